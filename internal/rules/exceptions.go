package rules

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// parseExceptions reads the "exceptions" key of a rule item. Lengths and
// operators are checked when the rule is compiled, because appended
// exceptions take their fields from the rule they extend.
func parseExceptions(it *item) ([]*ExceptionDef, error) {
	n := deref(it.keys["exceptions"])
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, it.errf("exceptions", "value of 'exceptions' must be a sequence")
	}
	var out []*ExceptionDef
	for _, en := range n.Content {
		en = deref(en)
		e := &ExceptionDef{Pos: it.posOf(en)}
		if en.Kind != yaml.MappingNode {
			return nil, &locError{pos: e.Pos, err: fmt.Errorf("exceptions entries must be maps")}
		}
		for i := 0; i+1 < len(en.Content); i += 2 {
			k, v := en.Content[i].Value, deref(en.Content[i+1])
			vpos := it.posOf(v)
			var err error
			switch k {
			case "name":
				if v.Kind != yaml.ScalarNode {
					err = fmt.Errorf("exception name must be a string")
				}
				e.Name = v.Value
			case "fields":
				e.Fields, e.FieldsIsList, err = scalarOrList(v)
			case "comps":
				e.Comps, _, err = scalarOrList(v)
			case "values":
				e.Values, err = exceptionValues(v)
			default:
				err = fmt.Errorf("unknown key '%s' in exception", k)
			}
			if err != nil {
				return nil, &locError{pos: vpos, err: err}
			}
		}
		if e.Name == "" {
			return nil, &locError{pos: e.Pos, err: fmt.Errorf("exception has no name")}
		}
		out = append(out, e)
	}
	return out, nil
}

func scalarOrList(n *yaml.Node) ([]string, bool, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}, false, nil
	case yaml.SequenceNode:
		out := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			c = deref(c)
			if c.Kind != yaml.ScalarNode {
				return nil, false, fmt.Errorf("expected a list of strings")
			}
			out = append(out, c.Value)
		}
		return out, true, nil
	}
	return nil, false, fmt.Errorf("expected a string or a list of strings")
}

func exceptionValues(n *yaml.Node) ([][]any, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("exception values must be a list")
	}
	var out [][]any
	for _, c := range n.Content {
		c = deref(c)
		switch c.Kind {
		case yaml.ScalarNode:
			out = append(out, []any{c.Value})
		case yaml.SequenceNode:
			var tuple []any
			for _, el := range c.Content {
				el = deref(el)
				switch el.Kind {
				case yaml.ScalarNode:
					tuple = append(tuple, el.Value)
				case yaml.SequenceNode:
					l, _, err := scalarOrList(el)
					if err != nil {
						return nil, err
					}
					tuple = append(tuple, l)
				default:
					return nil, fmt.Errorf("exception values must be strings or lists")
				}
			}
			out = append(out, tuple)
		default:
			return nil, fmt.Errorf("exception values must be strings or lists")
		}
	}
	return out, nil
}

var exceptionComps = []string{"=", "==", "!=", "<", "<=", ">", ">=", "contains", "icontains", "bcontains",
	"startswith", "bstartswith", "endswith", "glob", "iglob", "regex", "in", "intersects", "pmatch"}

// validComp reports whether c is an operator usable in exceptions, with an
// optional oneof/anyof/allof modifier.
func validComp(c string) bool {
	op, mod, hasMod := strings.Cut(c, " ")
	if hasMod && !slices.Contains(mods, strings.TrimSpace(mod)) {
		return false
	}
	return slices.Contains(exceptionComps, op)
}

func isListComp(c string) bool {
	return c == "in" || c == "intersects" || c == "pmatch" || strings.Contains(c, " ")
}

// quoteExceptionValue double-quotes values containing a space, as Falco
// does, unless they are already quoted.
func quoteExceptionValue(v string) string {
	if strings.Contains(v, " ") && !(strings.HasPrefix(v, "\"") && strings.HasSuffix(v, "\"") && len(v) > 1) {
		return "\"" + v + "\""
	}
	return v
}

// exceptionText builds the "and not (...)" text for one exception exactly
// as Falco does. It returns "" when the exception has no values.
func exceptionText(e *ExceptionDef) (string, error) {
	errf := func(format string, args ...any) error {
		return &locError{pos: e.Pos, err: fmt.Errorf("exception '%s': "+format, append([]any{e.Name}, args...)...)}
	}
	if len(e.Fields) == 0 {
		return "", errf("no fields")
	}
	comps := e.Comps
	if !e.FieldsIsList {
		if len(comps) == 0 {
			comps = []string{"in"}
		}
		if len(comps) != 1 || !validComp(comps[0]) || !isListComp(comps[0]) {
			return "", errf("with a single field, comps must be in, pmatch, intersects or a oneof/anyof/allof operator")
		}
		if len(e.Values) == 0 {
			return "", nil
		}
		vals := make([]string, 0, len(e.Values))
		for _, t := range e.Values {
			for _, v := range t {
				s, ok := v.(string)
				if !ok {
					return "", errf("with a single field, values must be a flat list")
				}
				vals = append(vals, quoteExceptionValue(s))
			}
		}
		return "(" + e.Fields[0] + " " + comps[0] + " (" + strings.Join(vals, ", ") + "))", nil
	}
	if len(comps) == 0 {
		comps = make([]string, len(e.Fields))
		for i := range comps {
			comps[i] = "="
		}
	}
	if len(comps) != len(e.Fields) {
		return "", errf("fields and comps lists must have equal length")
	}
	for _, c := range comps {
		if !validComp(c) {
			return "", errf("invalid comparison operator %q", c)
		}
	}
	if len(e.Values) == 0 {
		return "", nil
	}
	tuples := make([]string, 0, len(e.Values))
	for _, t := range e.Values {
		if len(t) != len(e.Fields) {
			return "", errf("fields and values lists must have equal length")
		}
		parts := make([]string, len(t))
		for i, v := range t {
			var txt string
			switch v := v.(type) {
			case []string:
				q := make([]string, len(v))
				for j, s := range v {
					q[j] = quoteExceptionValue(s)
				}
				txt = "(" + strings.Join(q, ", ") + ")"
			case string:
				txt = quoteExceptionValue(v)
				if isListComp(comps[i]) {
					txt = "(" + txt + ")"
				}
			}
			parts[i] = " " + e.Fields[i] + " " + comps[i] + " " + txt
		}
		tuples = append(tuples, "("+strings.Join(parts, " and ")+")")
	}
	return "(" + strings.Join(tuples, " or ") + ")", nil
}

// ruleCondition returns the rule's full condition text: the condition in
// parentheses followed by " and not (...)" for each exception with values.
func ruleCondition(r *RuleDef) (*condText, error) {
	if r.cond == nil {
		return nil, &locError{pos: r.Pos, err: fmt.Errorf("rule '%s' has no condition", r.Name)}
	}
	if len(r.Exceptions) == 0 {
		return r.cond, nil
	}
	open := newCondText("(", r.cond.parts[0])
	t := open.appendText("", r.cond).appendText("", newCondText(")", r.cond.parts[0]))
	for _, e := range r.Exceptions {
		txt, err := exceptionText(e)
		if err != nil {
			return nil, err
		}
		if txt == "" {
			continue
		}
		t = t.appendText(" and not ", newCondText(txt, textPart{pos: e.Pos, block: true}))
	}
	return t, nil
}
