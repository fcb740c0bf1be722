package rules

import "sort"

// typeSet is a set of event types: names, or all types except names when
// neg is true.
type typeSet struct {
	neg   bool
	names map[string]bool
}

func allTypes() typeSet { return typeSet{neg: true, names: map[string]bool{}} }

func (t typeSet) isAll() bool { return t.neg && len(t.names) == 0 }

func (t typeSet) complement() typeSet { return typeSet{neg: !t.neg, names: t.names} }

func (t typeSet) contains(name string) bool { return t.names[name] != t.neg }

func union(a, b typeSet) typeSet {
	switch {
	case !a.neg && !b.neg:
		return typeSet{names: merge(a.names, b.names)}
	case a.neg && b.neg:
		return typeSet{neg: true, names: common(a.names, b.names)}
	case a.neg:
		return typeSet{neg: true, names: minus(a.names, b.names)}
	default:
		return typeSet{neg: true, names: minus(b.names, a.names)}
	}
}

func intersect(a, b typeSet) typeSet {
	return union(a.complement(), b.complement()).complement()
}

func merge(a, b map[string]bool) map[string]bool {
	out := make(map[string]bool, len(a)+len(b))
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func common(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if b[k] {
			out[k] = true
		}
	}
	return out
}

func minus(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	return out
}

// sortedNames returns the names of the set, sorted.
func (t typeSet) sortedNames() []string {
	out := make([]string, 0, len(t.names))
	for k := range t.names {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// evtTypes computes the event types a resolved condition can match, the
// way Falco does: evt.type checks restrict the set, and/or combine sets, not
// complements them, and any other check allows every type.
func evtTypes(n node, negated bool) typeSet {
	switch n := n.(type) {
	case *andNode:
		return combine(n.children, negated, !negated)
	case *orNode:
		return combine(n.children, negated, negated)
	case *notNode:
		return evtTypes(n.child, !negated)
	case *checkNode:
		if n.lhs.transform != "" || n.lhs.name != "evt.type" || n.rhs != nil || n.mod != "" {
			return allTypes()
		}
		var t typeSet
		switch n.op {
		case "=", "==", "in", "intersects":
			t = typeSet{names: map[string]bool{}}
		case "!=":
			t = typeSet{neg: true, names: map[string]bool{}}
		default:
			return allTypes()
		}
		for _, v := range n.values {
			t.names[v.text] = true
		}
		if negated {
			t = t.complement()
		}
		return t
	}
	return allTypes()
}

func combine(children []node, negated, intersecting bool) typeSet {
	var acc typeSet
	for i, c := range children {
		t := evtTypes(c, negated)
		switch {
		case i == 0:
			acc = t
		case intersecting:
			acc = intersect(acc, t)
		default:
			acc = union(acc, t)
		}
	}
	return acc
}
