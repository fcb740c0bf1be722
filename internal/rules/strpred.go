package rules

import (
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
)

// stringSet is a set of strings: a slice when small, a map when large.
type stringSet struct {
	small []string
	big   map[string]struct{}
}

func newStringSet(items []string) stringSet {
	if len(items) <= 8 {
		return stringSet{small: items}
	}
	m := make(map[string]struct{}, len(items))
	for _, s := range items {
		m[s] = struct{}{}
	}
	return stringSet{big: m}
}

func (s stringSet) has(v string) bool {
	if s.big != nil {
		_, ok := s.big[v]
		return ok
	}
	for _, x := range s.small {
		if x == v {
			return true
		}
	}
	return false
}

// stringPredicate compiles the operator and literal values of a check into
// a predicate over a string value.
func stringPredicate(c *checkNode) (func(string) bool, error) {
	if c.mod != "" {
		return modifierPredicate(c)
	}
	switch c.op {
	case "in", "intersects":
		set := newStringSet(texts(c.values))
		return set.has, nil
	case "pmatch":
		pats := make([]pathPattern, len(c.values))
		for i, v := range c.values {
			pats[i] = newPathPattern(v.text)
		}
		return func(s string) bool {
			for i := range pats {
				if pats[i].match(s) {
					return true
				}
			}
			return false
		}, nil
	}
	if len(c.values) != 1 {
		return nil, errAt(c.off, "operator %s needs a single value", c.op)
	}
	return singleStringOp(c.op, c.values[0])
}

// singleStringOp compiles "op value" for a string field.
func singleStringOp(op string, v value) (func(string) bool, error) {
	want := v.text
	switch op {
	case "=", "==":
		return func(s string) bool { return s == want }, nil
	case "!=":
		return func(s string) bool { return s != want }, nil
	case "contains":
		return func(s string) bool { return strings.Contains(s, want) }, nil
	case "icontains":
		lw := strings.ToLower(want)
		return func(s string) bool { return indexFold(s, lw) >= 0 }, nil
	case "startswith":
		return func(s string) bool { return strings.HasPrefix(s, want) }, nil
	case "endswith":
		return func(s string) bool { return strings.HasSuffix(s, want) }, nil
	case "glob":
		return func(s string) bool { return globMatch(want, s, false) }, nil
	case "iglob":
		return func(s string) bool { return globMatch(want, s, true) }, nil
	case "bcontains", "bstartswith":
		b, err := hex.DecodeString(strings.ReplaceAll(want, " ", ""))
		if err != nil {
			return nil, errAt(v.off, "%s needs a hexadecimal value, not %q", op, want)
		}
		needle := string(b)
		if op == "bcontains" {
			return func(s string) bool { return strings.Contains(s, needle) }, nil
		}
		return func(s string) bool { return strings.HasPrefix(s, needle) }, nil
	case "regex":
		re, err := regexp.Compile(`^(?:` + want + `)$`)
		if err != nil {
			return nil, errAt(v.off, "invalid regex %q: %v", want, err)
		}
		return re.MatchString, nil
	case "<", "<=", ">", ">=":
		n, err := parseNumber(want)
		if err != nil {
			return nil, errAt(v.off, "operator %s needs a number, not %q", op, want)
		}
		cmp, _ := intCmp(op)
		return func(s string) bool {
			x, err := strconv.ParseInt(s, 10, 64)
			return err == nil && cmp(x, n)
		}, nil
	}
	return nil, errAt(v.off, "operator %s cannot be used with a string field", op)
}

// modifierPredicate compiles "op oneof|anyof|allof (list)".
func modifierPredicate(c *checkNode) (func(string) bool, error) {
	switch c.op {
	case "=", "==", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "regex":
	default:
		return nil, errAt(c.off, "modifier %s cannot be used with operator %s", c.mod, c.op)
	}
	ps := make([]func(string) bool, len(c.values))
	for i, v := range c.values {
		p, err := singleStringOp(c.op, v)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	switch c.mod {
	case "anyof":
		return func(s string) bool {
			for _, p := range ps {
				if p(s) {
					return true
				}
			}
			return false
		}, nil
	case "allof":
		return func(s string) bool {
			for _, p := range ps {
				if !p(s) {
					return false
				}
			}
			return len(ps) > 0
		}, nil
	default: // oneof
		return func(s string) bool {
			n := 0
			for _, p := range ps {
				if p(s) {
					n++
				}
			}
			return n == 1
		}, nil
	}
}
