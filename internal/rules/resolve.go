package rules

import (
	"errors"
	"fmt"
	"strings"
)

// condText is the text of a condition (or output) together with where its
// pieces sit in their files, so that byte offsets can be turned into
// positions. Appends and exceptions add pieces.
type condText struct {
	text  string
	parts []textPart
}

// textPart is a piece of a condText starting at byte off.
type textPart struct {
	off int
	pos Position
	// shift is added to the column on the piece's first line (1 for a
	// quoted YAML scalar).
	shift int
	// block is true for YAML block or multi-line scalars, whose columns
	// cannot be recovered: positions then point at the first line.
	block bool
}

// newCondText returns a condText for text that starts at pos.
func newCondText(text string, p textPart) *condText {
	p.off = 0
	return &condText{text: text, parts: []textPart{p}}
}

// appendText returns a new condText with sep and more appended.
func (t *condText) appendText(sep string, more *condText) *condText {
	out := &condText{text: t.text + sep + more.text}
	out.parts = append(out.parts, t.parts...)
	base := len(t.text) + len(sep)
	for _, p := range more.parts {
		p.off += base
		out.parts = append(out.parts, p)
	}
	return out
}

// posAt returns the file position of byte offset off in the text.
func (t *condText) posAt(off int) Position {
	if t == nil || len(t.parts) == 0 {
		return Position{}
	}
	if off < 0 || off > len(t.text) {
		off = 0
	}
	part := t.parts[0]
	for _, p := range t.parts[1:] {
		if p.off <= off {
			part = p
		}
	}
	pos := part.pos
	if part.block {
		return pos
	}
	rel := t.text[part.off:off]
	nl := strings.Count(rel, "\n")
	if nl == 0 {
		pos.Col += part.shift + len(rel)
		return pos
	}
	pos.Line += nl
	pos.Col = len(rel) - strings.LastIndexByte(rel, '\n')
	return pos
}

// locError is an error at a position in a rules file.
type locError struct {
	pos Position
	err error
}

func (e *locError) Error() string { return e.err.Error() }
func (e *locError) Unwrap() error { return e.err }

// locate turns a *posError into a *locError within src.
func locate(src *condText, err error) error {
	var le *locError
	if errors.As(err, &le) {
		return err
	}
	var pe *posError
	if errors.As(err, &pe) {
		return &locError{pos: src.posAt(pe.off), err: err}
	}
	return &locError{pos: src.posAt(0), err: err}
}

// setSrc records the source text on every check and macro reference.
func setSrc(n node, src *condText) {
	switch n := n.(type) {
	case *andNode:
		for _, c := range n.children {
			setSrc(c, src)
		}
	case *orNode:
		for _, c := range n.children {
			setSrc(c, src)
		}
	case *notNode:
		setSrc(n.child, src)
	case *macroRef:
		n.src = src
	case *checkNode:
		n.src = src
	}
}

// macroInfo is a parsed macro.
type macroInfo struct {
	name string
	ast  node
	err  error
	used bool
}

// resolver substitutes macros and expands lists.
type resolver struct {
	macros map[string]*macroInfo
	lists  map[string][]string
	active map[string]bool
}

// resolve returns a copy of n with macro references replaced by their
// (resolved) bodies and list names in list values replaced by their items.
func (r *resolver) resolve(n node) (node, error) {
	switch n := n.(type) {
	case *andNode:
		out := &andNode{off: n.off, children: make([]node, len(n.children))}
		for i, c := range n.children {
			rc, err := r.resolve(c)
			if err != nil {
				return nil, err
			}
			out.children[i] = rc
		}
		return out, nil
	case *orNode:
		out := &orNode{off: n.off, children: make([]node, len(n.children))}
		for i, c := range n.children {
			rc, err := r.resolve(c)
			if err != nil {
				return nil, err
			}
			out.children[i] = rc
		}
		return out, nil
	case *notNode:
		c, err := r.resolve(n.child)
		if err != nil {
			return nil, err
		}
		return &notNode{off: n.off, child: c}, nil
	case *macroRef:
		m, ok := r.macros[n.name]
		if !ok {
			return nil, &locError{pos: n.src.posAt(n.off), err: fmt.Errorf("undefined macro '%s' used in filter", n.name)}
		}
		if m.err != nil {
			return nil, &locError{pos: n.src.posAt(n.off), err: fmt.Errorf("macro '%s' is invalid: %w", n.name, m.err)}
		}
		if r.active[n.name] {
			return nil, &locError{pos: n.src.posAt(n.off), err: fmt.Errorf("macro '%s' refers to itself", n.name)}
		}
		m.used = true
		if r.active == nil {
			r.active = map[string]bool{}
		}
		r.active[n.name] = true
		defer delete(r.active, n.name)
		return r.resolve(m.ast)
	case *checkNode:
		return r.resolveCheck(n)
	}
	return nil, fmt.Errorf("unexpected node %T", n)
}

func (r *resolver) resolveCheck(n *checkNode) (node, error) {
	if !n.list {
		return n, nil
	}
	out := *n
	out.values = nil
	if n.listName != "" {
		items, ok := r.lists[n.listName]
		if !ok {
			return nil, &locError{pos: n.src.posAt(n.off), err: fmt.Errorf("undefined list '%s'", n.listName)}
		}
		out.listName = ""
		out.values = listValues(items, n.off)
		return &out, nil
	}
	for _, v := range n.values {
		if items, ok := r.lists[v.text]; ok && !v.quoted {
			out.values = append(out.values, listValues(items, v.off)...)
			continue
		}
		out.values = append(out.values, v)
	}
	return &out, nil
}

// listValues turns list items into values, unquoting items that carry
// their own quotes (YAML '"10.0.0.0/8"').
func listValues(items []string, off int) []value {
	out := make([]value, 0, len(items))
	for _, it := range items {
		out = append(out, value{off: off, text: listItemText(it), quoted: true})
	}
	return out
}

func listItemText(it string) string {
	if len(it) >= 2 && (it[0] == '"' || it[0] == '\'') {
		if s, n, err := unquote(it); err == nil && n == len(it) {
			return s
		}
	}
	return it
}
