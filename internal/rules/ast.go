package rules

import (
	"strconv"
	"strings"
)

// node is a parsed condition. Offsets are byte offsets into the condition
// text, used to point errors at a column.
type node interface {
	offset() int
	// write appends a canonical, fully parenthesised form used by tests.
	write(b *strings.Builder)
}

type andNode struct {
	off      int
	children []node
}

type orNode struct {
	off      int
	children []node
}

type notNode struct {
	off   int
	child node
}

// macroRef is a bare identifier in check position.
type macroRef struct {
	off  int
	name string
	src  *condText
}

// fieldExpr is a field, optionally wrapped in transformers, on either side of
// a comparison.
type fieldExpr struct {
	off int
	// transform is "" for a plain field, else tolower, toupper, b64,
	// basename, len or val.
	transform string
	inner     *fieldExpr // set when transform != ""
	name      string     // field name when transform == ""
	arg       string
	hasArg    bool
}

// value is one literal on the right-hand side.
type value struct {
	off    int
	text   string
	quoted bool
}

// checkNode is "field op value(s)".
type checkNode struct {
	off    int
	lhs    *fieldExpr
	op     string // "=", "!=", "contains", "in", "exists", ...
	mod    string // "", "oneof", "anyof", "allof"
	values []value
	// list is true when the RHS was a parenthesised list (or a list name).
	list bool
	// listName is set when the RHS was a bare list identifier.
	listName string
	rhs      *fieldExpr // RHS transformer or val(field)
	src      *condText  // text the check was parsed from, for errors
}

func (n *andNode) offset() int   { return n.off }
func (n *orNode) offset() int    { return n.off }
func (n *notNode) offset() int   { return n.off }
func (n *macroRef) offset() int  { return n.off }
func (n *checkNode) offset() int { return n.off }

func (n *andNode) write(b *strings.Builder) { writeNary(b, "and", n.children) }
func (n *orNode) write(b *strings.Builder)  { writeNary(b, "or", n.children) }

func writeNary(b *strings.Builder, op string, children []node) {
	b.WriteByte('(')
	for i, c := range children {
		if i > 0 {
			b.WriteString(" " + op + " ")
		}
		c.write(b)
	}
	b.WriteByte(')')
}

func (n *notNode) write(b *strings.Builder) {
	b.WriteString("not ")
	n.child.write(b)
}

func (n *macroRef) write(b *strings.Builder) { b.WriteString(n.name) }

func (f *fieldExpr) String() string {
	if f.transform != "" {
		return f.transform + "(" + f.inner.String() + ")"
	}
	if f.hasArg {
		return f.name + "[" + f.arg + "]"
	}
	return f.name
}

func (n *checkNode) write(b *strings.Builder) {
	b.WriteString(n.lhs.String())
	b.WriteString(" " + n.op)
	if n.op == "exists" {
		return
	}
	if n.mod != "" {
		b.WriteString(" " + n.mod)
	}
	b.WriteByte(' ')
	switch {
	case n.rhs != nil:
		b.WriteString(n.rhs.String())
	case n.listName != "":
		b.WriteString(n.listName)
	case n.list:
		b.WriteByte('(')
		for i, v := range n.values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(quoteIfNeeded(v.text))
		}
		b.WriteByte(')')
	default:
		b.WriteString(quoteIfNeeded(n.values[0].text))
	}
}

// quoteIfNeeded quotes a value that would not read back as a bare string.
func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n(),=\"'\b") {
		return strconv.Quote(s)
	}
	return s
}

// astString renders a node in canonical form.
func astString(n node) string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}
