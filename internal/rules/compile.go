package rules

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// pred is a compiled condition.
type pred[E any] func(*E) bool

// compileNode compiles a resolved (macro-free) AST into a predicate.
func compileNode[E any](src *sourceDef[E], n node) (pred[E], error) {
	switch n := n.(type) {
	case *andNode:
		ps, err := compileChildren(src, n.children)
		if err != nil {
			return nil, err
		}
		return andPred(ps), nil
	case *orNode:
		ps, err := compileChildren(src, n.children)
		if err != nil {
			return nil, err
		}
		return orPred(ps), nil
	case *notNode:
		p, err := compileNode(src, n.child)
		if err != nil {
			return nil, err
		}
		return func(e *E) bool { return !p(e) }, nil
	case *checkNode:
		p, err := compileCheck(src, n)
		if err != nil {
			return nil, locate(n.src, err)
		}
		return p, nil
	case *macroRef:
		return nil, &locError{pos: n.src.posAt(n.off), err: fmt.Errorf("unresolved macro '%s'", n.name)}
	}
	return nil, fmt.Errorf("unexpected node %T", n)
}

func compileChildren[E any](src *sourceDef[E], children []node) ([]pred[E], error) {
	ps := make([]pred[E], len(children))
	for i, c := range children {
		p, err := compileNode(src, c)
		if err != nil {
			return nil, err
		}
		ps[i] = p
	}
	return ps, nil
}

func andPred[E any](ps []pred[E]) pred[E] {
	switch len(ps) {
	case 2:
		a, b := ps[0], ps[1]
		return func(e *E) bool { return a(e) && b(e) }
	case 3:
		a, b, c := ps[0], ps[1], ps[2]
		return func(e *E) bool { return a(e) && b(e) && c(e) }
	}
	return func(e *E) bool {
		for _, p := range ps {
			if !p(e) {
				return false
			}
		}
		return true
	}
}

func orPred[E any](ps []pred[E]) pred[E] {
	switch len(ps) {
	case 2:
		a, b := ps[0], ps[1]
		return func(e *E) bool { return a(e) || b(e) }
	case 3:
		a, b, c := ps[0], ps[1], ps[2]
		return func(e *E) bool { return a(e) || b(e) || c(e) }
	}
	return func(e *E) bool {
		for _, p := range ps {
			if p(e) {
				return true
			}
		}
		return false
	}
}

// resolveFieldExpr turns a field expression into an accessor, applying
// transformers.
func resolveFieldExpr[E any](src *sourceDef[E], f *fieldExpr) (accessor[E], error) {
	if f.transform == "" {
		a, err := src.resolve(f.name, f.arg, f.hasArg)
		if err != nil {
			if pe, ok := err.(*posError); ok {
				pe.off = f.off
				return a, err
			}
			return a, &posError{off: f.off, err: err}
		}
		return a, nil
	}
	if f.transform == "val" {
		return resolveFieldExpr(src, f.inner)
	}
	inner, err := resolveFieldExpr(src, f.inner)
	if err != nil {
		return inner, err
	}
	return transform(f, inner)
}

// present reports whether the accessor's value can be extracted.
func (a *accessor[E]) present(e *E) bool {
	var ok bool
	switch a.kind {
	case kindString:
		_, ok = a.str(e)
	case kindInt, kindBool:
		_, ok = a.num(e)
	case kindIP:
		_, ok = a.ip(e)
	case kindList:
		if a.nth != nil {
			_, ok = a.nth(e, 0)
		} else {
			var l []string
			l, ok = a.list(e)
			ok = ok && len(l) > 0
		}
	}
	if !ok && a.alt != nil {
		return a.alt.present(e)
	}
	return ok
}

func compileCheck[E any](src *sourceDef[E], c *checkNode) (pred[E], error) {
	a, err := resolveFieldExpr(src, c.lhs)
	if err != nil {
		return nil, err
	}
	if c.op == "exists" {
		return func(e *E) bool { return a.present(e) }, nil
	}
	p, err := compileCompare(src, c, a)
	if err != nil {
		return nil, err
	}
	if a.alt != nil {
		alt := *a.alt
		q, err := compileCompare(src, c, alt)
		if err != nil {
			return nil, err
		}
		// Like Falco, fd.ip/fd.port/fd.net match when either end matches,
		// whatever the operator.
		return func(e *E) bool { return p(e) || q(e) }, nil
	}
	return p, nil
}

func compileCompare[E any](src *sourceDef[E], c *checkNode, a accessor[E]) (pred[E], error) {
	if c.rhs != nil {
		return compileFieldCompare(src, c, a)
	}
	switch a.kind {
	case kindString:
		sp, err := stringPredicate(c)
		if err != nil {
			return nil, err
		}
		get := a.str
		return func(e *E) bool {
			s, ok := get(e)
			return ok && sp(s)
		}, nil
	case kindInt, kindBool:
		np, err := numberPredicate(c, a.kind == kindBool)
		if err != nil {
			return nil, err
		}
		get := a.num
		return func(e *E) bool {
			n, ok := get(e)
			return ok && np(n)
		}, nil
	case kindIP:
		ipp, err := ipPredicate(c)
		if err != nil {
			return nil, err
		}
		get := a.ip
		return func(e *E) bool {
			ip, ok := get(e)
			return ok && ipp(ip)
		}, nil
	case kindList:
		return listPredicate(c, a)
	}
	return nil, errAt(c.off, "unsupported field type")
}

// listPredicate handles list-valued fields.
func listPredicate[E any](c *checkNode, a accessor[E]) (pred[E], error) {
	if a.any {
		sp, err := stringPredicate(c)
		if err != nil {
			return nil, err
		}
		nth := a.nth
		return func(e *E) bool {
			for i := 0; ; i++ {
				s, ok := nth(e, i)
				if !ok {
					return false
				}
				if sp(s) {
					return true
				}
			}
		}, nil
	}
	if c.mod != "" || !c.list {
		return nil, errAt(c.off, "operator %s cannot be used with list field %s (use in, intersects or exists)", c.op, a.name)
	}
	set := newStringSet(texts(c.values))
	get := a.list
	switch c.op {
	case "in":
		return func(e *E) bool {
			l, ok := get(e)
			if !ok || len(l) == 0 {
				return false
			}
			for _, s := range l {
				if !set.has(s) {
					return false
				}
			}
			return true
		}, nil
	case "intersects":
		return func(e *E) bool {
			l, ok := get(e)
			if !ok {
				return false
			}
			for _, s := range l {
				if set.has(s) {
					return true
				}
			}
			return false
		}, nil
	}
	return nil, errAt(c.off, "operator %s cannot be used with list field %s (use in, intersects or exists)", c.op, a.name)
}

func texts(vs []value) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.text
	}
	return out
}

// compileFieldCompare compares against another field (val(...)) or a
// transformed field on the right-hand side.
func compileFieldCompare[E any](src *sourceDef[E], c *checkNode, a accessor[E]) (pred[E], error) {
	if c.op == "pmatch" || c.op == "regex" {
		return nil, errAt(c.rhs.off, "%s cannot compare against a field", c.op)
	}
	b, err := resolveFieldExpr(src, c.rhs)
	if err != nil {
		return nil, err
	}
	if (a.kind == kindInt || a.kind == kindBool) && (b.kind == kindInt || b.kind == kindBool) {
		cmp, err := intCmp(c.op)
		if err != nil {
			return nil, errAt(c.off, "%v", err)
		}
		ga, gb := a.num, b.num
		return func(e *E) bool {
			x, ok1 := ga(e)
			y, ok2 := gb(e)
			return ok1 && ok2 && cmp(x, y)
		}, nil
	}
	op, err := dynStringOp(c.op)
	if err != nil {
		return nil, errAt(c.off, "%v", err)
	}
	return func(e *E) bool {
		x, ok1 := a.stringValue(e)
		y, ok2 := b.stringValue(e)
		return ok1 && ok2 && op(x, y)
	}, nil
}

func dynStringOp(op string) (func(a, b string) bool, error) {
	switch op {
	case "=", "==":
		return func(a, b string) bool { return a == b }, nil
	case "!=":
		return func(a, b string) bool { return a != b }, nil
	case "contains":
		return strings.Contains, nil
	case "icontains":
		return func(a, b string) bool { return indexFold(a, strings.ToLower(b)) >= 0 }, nil
	case "startswith":
		return strings.HasPrefix, nil
	case "endswith":
		return strings.HasSuffix, nil
	case "glob":
		return func(a, b string) bool { return globMatch(b, a, false) }, nil
	case "iglob":
		return func(a, b string) bool { return globMatch(b, a, true) }, nil
	case "in", "intersects":
		return func(a, b string) bool { return a == b }, nil
	case "<", "<=", ">", ">=":
		cmp, _ := intCmp(op)
		return func(a, b string) bool {
			x, err1 := strconv.ParseInt(a, 10, 64)
			y, err2 := strconv.ParseInt(b, 10, 64)
			return err1 == nil && err2 == nil && cmp(x, y)
		}, nil
	}
	return nil, fmt.Errorf("operator %s cannot compare two fields", op)
}

func intCmp(op string) (func(a, b int64) bool, error) {
	switch op {
	case "=", "==", "in", "intersects":
		return func(a, b int64) bool { return a == b }, nil
	case "!=":
		return func(a, b int64) bool { return a != b }, nil
	case "<":
		return func(a, b int64) bool { return a < b }, nil
	case "<=":
		return func(a, b int64) bool { return a <= b }, nil
	case ">":
		return func(a, b int64) bool { return a > b }, nil
	case ">=":
		return func(a, b int64) bool { return a >= b }, nil
	}
	return nil, fmt.Errorf("operator %s cannot be used with a numeric field", op)
}

// parseNumber parses a numeric literal: decimal, or hexadecimal with 0x.
func parseNumber(s string) (int64, error) {
	t := strings.TrimPrefix(s, "+")
	if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
		u, err := strconv.ParseUint(t[2:], 16, 64)
		return int64(u), err
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(t, 64); ferr == nil {
			return int64(f), nil
		}
	}
	return n, err
}

func numberPredicate(c *checkNode, isBool bool) (func(int64) bool, error) {
	if c.mod != "" {
		return nil, errAt(c.off, "modifier %s cannot be used with a numeric field", c.mod)
	}
	nums := make([]int64, 0, len(c.values))
	for _, v := range c.values {
		var n int64
		var err error
		if isBool {
			switch strings.ToLower(v.text) {
			case "true":
				n = 1
			case "false":
				n = 0
			default:
				n, err = parseNumber(v.text)
			}
		} else {
			n, err = parseNumber(v.text)
		}
		if err != nil {
			return nil, errAt(v.off, "%q is not a valid %s", v.text, map[bool]string{true: "boolean", false: "number"}[isBool])
		}
		nums = append(nums, n)
	}
	switch c.op {
	case "in", "intersects":
		return func(n int64) bool {
			for _, x := range nums {
				if x == n {
					return true
				}
			}
			return false
		}, nil
	case "pmatch":
		return nil, errAt(c.off, "operator pmatch cannot be used with a numeric field")
	}
	if len(nums) != 1 {
		return nil, errAt(c.off, "operator %s needs a single value", c.op)
	}
	cmp, err := intCmp(c.op)
	if err != nil {
		return nil, errAt(c.off, "%v", err)
	}
	want := nums[0]
	return func(n int64) bool { return cmp(n, want) }, nil
}

// ipMatcher is one address or network from the right-hand side.
type ipMatcher struct {
	prefix netip.Prefix
	addr   netip.Addr
	isNet  bool
}

func (m ipMatcher) match(ip netip.Addr) bool {
	ip = ip.Unmap()
	if m.isNet {
		return m.prefix.Contains(ip)
	}
	return m.addr == ip
}

func ipPredicate(c *checkNode) (func(netip.Addr) bool, error) {
	if c.mod != "" {
		return nil, errAt(c.off, "modifier %s cannot be used with an address field", c.mod)
	}
	ms := make([]ipMatcher, 0, len(c.values))
	for _, v := range c.values {
		if strings.Contains(v.text, "/") {
			p, err := netip.ParsePrefix(v.text)
			if err != nil {
				return nil, errAt(v.off, "%q is not a valid network", v.text)
			}
			ms = append(ms, ipMatcher{prefix: p.Masked(), isNet: true})
			continue
		}
		a, err := netip.ParseAddr(v.text)
		if err != nil {
			return nil, errAt(v.off, "%q is not a valid address", v.text)
		}
		ms = append(ms, ipMatcher{addr: a.Unmap()})
	}
	any := func(ip netip.Addr) bool {
		for _, m := range ms {
			if m.match(ip) {
				return true
			}
		}
		return false
	}
	switch c.op {
	case "=", "==", "in", "intersects":
		return any, nil
	case "!=":
		return func(ip netip.Addr) bool { return !any(ip) }, nil
	}
	return nil, errAt(c.off, "operator %s cannot be used with an address field", c.op)
}
