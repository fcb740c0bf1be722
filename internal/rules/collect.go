package rules

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"gopkg.in/yaml.v3"
)

var (
	listNameRE  = regexp.MustCompile(`^[^()"'\s=,]+$`)
	macroNameRE = regexp.MustCompile(`^[a-zA-Z]+[a-zA-Z0-9_]*$`)
)

// overrides reads an item's "override" map and checks it against the keys
// present: each overridable key present must be listed, and each listed key
// must be present and allow the mode.
func (l *loader) overrides(it *item, allowed map[string][]string) (map[string]string, error) {
	n, ok := it.keys["override"]
	if !ok {
		return nil, nil
	}
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return nil, it.errf("override", "value of 'override' must be a map")
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i].Value, deref(n.Content[i+1])
		modes, ok := allowed[k]
		if !ok {
			return nil, &locError{pos: it.posOf(n.Content[i]), err: fmt.Errorf("key '%s' cannot be overridden", k)}
		}
		if v.Kind != yaml.ScalarNode || !slices.Contains(modes, v.Value) {
			return nil, &locError{pos: it.posOf(v), err: fmt.Errorf("key '%s' can only be overridden with %v", k, modes)}
		}
		if !it.has(k) {
			return nil, &locError{pos: it.posOf(n.Content[i]), err: fmt.Errorf("an override is defined for '%s' but the item has no such key", k)}
		}
		out[k] = v.Value
	}
	for k := range allowed {
		if it.has(k) && out[k] == "" {
			return nil, &locError{pos: it.kpos[k], err: fmt.Errorf("unexpected key '%s': no corresponding entry under 'override' is defined", k)}
		}
	}
	return out, nil
}

func (l *loader) appendFlag(it *item) (bool, error) {
	if !it.has("append") {
		return false, nil
	}
	b, err := it.boolean("append")
	if err != nil {
		return false, err
	}
	if b && it.has("override") {
		return false, it.errf("append", "keys 'override' and 'append: true' cannot be used together")
	}
	return b, nil
}

func (l *loader) list(it *item) error {
	name, err := it.str("list")
	if err != nil {
		return err
	}
	l.unknownKeys(it, name, "list", "items", "append", "override")
	if !listNameRE.MatchString(name) {
		l.add(SeverityWarning, name, it.errf("list", "list name '%s' contains invalid characters", name))
	}
	if !it.has("items") {
		return it.errf("list", "item has no mapping for key 'items'")
	}
	items, err := it.strList("items")
	if err != nil {
		return err
	}
	app, err := l.appendFlag(it)
	if err != nil {
		return err
	}
	ov, err := l.overrides(it, map[string][]string{"items": {"append", "replace"}})
	if err != nil {
		return err
	}
	prev := l.rs.lists[name]
	switch {
	case app || ov["items"] == "append":
		if prev == nil {
			return it.errf("list", "list '%s' has 'append' but no list by that name already exists", name)
		}
		prev.Items = append(prev.Items, items...)
	case ov["items"] == "replace":
		if prev == nil {
			return it.errf("list", "list '%s' has 'override' but no list by that name already exists", name)
		}
		prev.Items = items
	case prev != nil:
		prev.Items, prev.Pos = items, it.pos
	default:
		d := &ListDef{Name: name, Items: items, Pos: it.pos}
		l.rs.lists[name] = d
		l.rs.Lists = append(l.rs.Lists, d)
	}
	return nil
}

func (l *loader) macro(it *item) error {
	name, err := it.str("macro")
	if err != nil {
		return err
	}
	l.unknownKeys(it, name, "macro", "condition", "append", "override")
	if !macroNameRE.MatchString(name) {
		l.add(SeverityWarning, name, it.errf("macro", "macro name '%s' contains invalid characters", name))
	}
	cond, err := it.text("condition")
	if err != nil {
		return err
	}
	app, err := l.appendFlag(it)
	if err != nil {
		return err
	}
	ov, err := l.overrides(it, map[string][]string{"condition": {"append", "replace"}})
	if err != nil {
		return err
	}
	prev := l.rs.macros[name]
	switch {
	case app || ov["condition"] == "append":
		if prev == nil {
			return it.errf("macro", "macro '%s' has 'append' but no macro by that name already exists", name)
		}
		prev.cond = prev.cond.appendText(" ", cond)
		prev.Condition = prev.cond.text
	case ov["condition"] == "replace":
		if prev == nil {
			return it.errf("macro", "macro '%s' has 'override' but no macro by that name already exists", name)
		}
		prev.cond, prev.Condition = cond, cond.text
	case prev != nil:
		prev.cond, prev.Condition, prev.Pos = cond, cond.text, it.pos
	default:
		d := &MacroDef{Name: name, Condition: cond.text, Pos: it.pos, cond: cond}
		l.rs.macros[name] = d
		l.rs.Macros = append(l.rs.Macros, d)
	}
	return nil
}

var ruleKeys = []string{"rule", "condition", "output", "desc", "priority", "source", "enabled", "tags",
	"exceptions", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration", "append", "override"}

var ruleOverrides = map[string][]string{
	"condition": {"append", "replace"}, "output": {"append", "replace"}, "desc": {"append", "replace"},
	"tags": {"append", "replace"}, "exceptions": {"append", "replace"}, "priority": {"replace"},
	"enabled": {"replace"}, "warn_evttypes": {"replace"}, "skip-if-unknown-filter": {"replace"},
	"capture": {"replace"}, "capture_duration": {"replace"},
}

func (l *loader) rule(it *item) error {
	name, err := it.str("rule")
	if err != nil {
		return err
	}
	l.unknownKeys(it, name, ruleKeys...)
	app, err := l.appendFlag(it)
	if err != nil {
		return err
	}
	ov, err := l.overrides(it, ruleOverrides)
	if err != nil {
		return err
	}
	prev := l.rs.rules[name]
	switch {
	case ov != nil:
		if prev == nil {
			return it.errf("rule", "rule '%s' has 'override' but no rule by that name already exists", name)
		}
		return l.applyRule(it, prev, ov)
	case app:
		if prev == nil {
			return it.errf("rule", "rule '%s' has 'append' but no rule by that name already exists", name)
		}
		modes := map[string]string{}
		for _, k := range []string{"condition", "output", "desc", "tags", "exceptions"} {
			if it.has(k) {
				modes[k] = "append"
			}
		}
		for _, k := range []string{"priority", "enabled", "source"} {
			if it.has(k) {
				return it.errf(k, "key '%s' cannot be appended to", k)
			}
		}
		return l.applyRule(it, prev, modes)
	case !it.has("condition") && !it.has("output") && !it.has("desc") && !it.has("priority") && it.has("enabled"):
		if prev == nil {
			return it.errf("rule", "rule '%s' only sets 'enabled' but no rule by that name already exists", name)
		}
		return l.applyRule(it, prev, map[string]string{"enabled": "replace"})
	}
	r := &RuleDef{Name: name, Source: SourceSyscall, Enabled: true, WarnEvttypes: true, Pos: it.pos}
	for _, k := range []string{"condition", "output", "desc", "priority"} {
		if !it.has(k) {
			return it.errf("rule", "rule '%s' has no mapping for key '%s'", name, k)
		}
	}
	modes := map[string]string{}
	for _, k := range ruleKeys {
		if _, ok := ruleOverrides[k]; ok && it.has(k) {
			modes[k] = "replace"
		}
	}
	if it.has("source") {
		if r.Source, err = it.str("source"); err != nil {
			return err
		}
	}
	if err := l.applyRule(it, r, modes); err != nil {
		return err
	}
	if prev != nil {
		// Redefinition replaces the rule in place.
		i := slices.Index(l.rs.Rules, prev)
		l.rs.Rules[i] = r
	} else {
		l.rs.Rules = append(l.rs.Rules, r)
	}
	l.rs.rules[name] = r
	return nil
}

// applyRule applies the keys of it to r according to modes (append or
// replace per key). It validates everything before changing r.
func (l *loader) applyRule(it *item, r *RuleDef, modes map[string]string) error {
	next := *r
	for key, mode := range modes {
		var err error
		switch key {
		case "condition", "output", "desc":
			var t *condText
			if t, err = it.text(key); err != nil {
				return err
			}
			cur := map[string]**condText{"condition": &next.cond, "output": &next.output}[key]
			switch {
			case key == "desc" && mode == "append":
				next.Desc += " " + t.text
			case key == "desc":
				next.Desc = t.text
			case mode == "append" && *cur != nil:
				*cur = (*cur).appendText(" ", t)
			default:
				*cur = t
			}
		case "priority":
			var s string
			if s, err = it.str(key); err == nil {
				next.Priority, err = ParsePriority(s)
				if err != nil {
					err = it.errf(key, "%v", err)
				}
			}
		case "enabled":
			next.Enabled, err = it.boolean(key)
		case "warn_evttypes":
			next.WarnEvttypes, err = it.boolean(key)
		case "skip-if-unknown-filter":
			next.SkipIfUnknownFilter, err = it.boolean(key)
		case "capture":
			_, err = it.boolean(key)
		case "capture_duration":
			var d int
			if deref(it.keys[key]).Decode(&d) != nil {
				err = it.errf(key, "capture_duration must be an integer")
			}
		case "tags":
			var tags []string
			if tags, err = it.strList(key); err == nil {
				if mode == "append" {
					tags = append(slices.Clone(next.Tags), tags...)
				}
				slices.Sort(tags)
				next.Tags = slices.Compact(tags)
			}
		case "exceptions":
			var exc []*ExceptionDef
			if exc, err = parseExceptions(it); err == nil {
				if mode == "append" {
					next.Exceptions, err = appendExceptions(next.Exceptions, exc)
				} else {
					next.Exceptions = exc
				}
			}
		}
		if err != nil {
			return err
		}
	}
	if next.cond != nil {
		next.Condition = next.cond.text
	}
	if next.output != nil {
		next.Output = next.output.text
	}
	*r = next
	return nil
}

// appendExceptions merges appended exceptions: values of an existing name
// are appended; new names are added.
func appendExceptions(cur, more []*ExceptionDef) ([]*ExceptionDef, error) {
	out := slices.Clone(cur)
	for _, m := range more {
		i := slices.IndexFunc(out, func(e *ExceptionDef) bool { return e.Name == m.Name })
		if i < 0 {
			if len(m.Fields) == 0 {
				return nil, &locError{pos: m.Pos, err: fmt.Errorf("exception '%s' is new and must define fields", m.Name)}
			}
			out = append(out, m)
			continue
		}
		if len(m.Fields) > 0 || len(m.Comps) > 0 {
			return nil, &locError{pos: m.Pos, err: fmt.Errorf("appended exception '%s' cannot redefine fields or comps", m.Name)}
		}
		e := *out[i]
		e.Values = append(slices.Clone(e.Values), m.Values...)
		out[i] = &e
	}
	return out, nil
}

var errNoName = errors.New("exception has no name")
