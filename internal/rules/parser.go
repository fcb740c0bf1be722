package rules

import (
	"strconv"
	"strings"
)

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 500

// transformers lists the LHS transformer names of the language. join, concat
// and getopt are recognised so that they give a clear error.
var transformers = map[string]bool{
	"tolower": true, "toupper": true, "b64": true, "basename": true, "len": true,
	"join": true, "concat": true, "getopt": true,
}

// parseCondition parses a condition expression into an AST. Errors are
// *posError values carrying the byte offset of the problem.
func parseCondition(s string) (node, error) {
	p := &parser{s: s}
	p.skipWS()
	if p.i == len(p.s) {
		return nil, errAt(0, "empty condition")
	}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.i != len(p.s) {
		return nil, errAt(p.i, "unexpected %s", p.near())
	}
	return n, nil
}

type parser struct {
	s     string
	i     int
	depth int
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\b' }

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '_' }

func (p *parser) skipWS() {
	for p.i < len(p.s) && isBlank(p.s[p.i]) {
		p.i++
	}
}

// near describes the text at the cursor for error messages.
func (p *parser) near() string {
	if p.i >= len(p.s) {
		return "end of condition"
	}
	rest := p.s[p.i:]
	if len(rest) > 20 {
		rest = rest[:20] + "..."
	}
	return strconv.Quote(rest)
}

// keyword reports whether kw is at the cursor followed by a blank or one of
// the bytes in after, and consumes it if so.
func (p *parser) keyword(kw, after string) bool {
	if !strings.HasPrefix(p.s[p.i:], kw) {
		return false
	}
	j := p.i + len(kw)
	if j == len(p.s) {
		if !strings.Contains(after, "$") {
			return false
		}
	} else if !isBlank(p.s[j]) && !strings.ContainsRune(after, rune(p.s[j])) {
		return false
	}
	p.i = j
	return true
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return errAt(p.i, "condition nested too deeply")
	}
	return nil
}

func (p *parser) parseOr() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	start := p.i
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	children := []node{first}
	for {
		p.skipWS()
		if !p.keyword("or", "($") {
			break
		}
		n, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		children = append(children, n)
	}
	if len(children) == 1 {
		return first, nil
	}
	return &orNode{off: start, children: children}, nil
}

func (p *parser) parseAnd() (node, error) {
	p.skipWS()
	start := p.i
	first, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	children := []node{first}
	for {
		p.skipWS()
		if !p.keyword("and", "($") {
			break
		}
		n, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		children = append(children, n)
	}
	if len(children) == 1 {
		return first, nil
	}
	return &andNode{off: start, children: children}, nil
}

func (p *parser) parseNot() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.skipWS()
	start := p.i
	if p.keyword("not", "($") {
		child, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &notNode{off: start, child: child}, nil
	}
	return p.parseCheck()
}

func (p *parser) parseCheck() (node, error) {
	p.skipWS()
	start := p.i
	if p.i >= len(p.s) {
		return nil, errAt(p.i, "expected a check, macro or '(' but found end of condition")
	}
	if p.s[p.i] == '(' {
		p.i++
		n, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, errAt(p.i, "expected ')' but found %s", p.near())
		}
		p.i++
		return n, nil
	}
	name, ok := p.readName()
	if !ok {
		return nil, errAt(p.i, "expected a field, macro or '(' but found %s", p.near())
	}
	var lhs *fieldExpr
	switch {
	case transformers[name] && p.i < len(p.s) && p.s[p.i] == '(':
		f, err := p.finishTransformer(start, name)
		if err != nil {
			return nil, err
		}
		lhs = f
	case !strings.Contains(name, "."):
		return &macroRef{off: start, name: name}, nil
	default:
		f, err := p.finishField(start, name)
		if err != nil {
			return nil, err
		}
		lhs = f
	}
	return p.parseComparison(start, lhs)
}

// readName reads Identifier or FieldName at the cursor.
func (p *parser) readName() (string, bool) {
	start := p.i
	for {
		if p.i >= len(p.s) || !isIdentStart(p.s[p.i]) {
			if p.i == start {
				return "", false
			}
			// A trailing dot belongs to no segment: give it back.
			p.i--
			return p.s[start:p.i], true
		}
		for p.i < len(p.s) && isIdentChar(p.s[p.i]) {
			p.i++
		}
		if p.i < len(p.s) && p.s[p.i] == '.' {
			p.i++
			continue
		}
		return p.s[start:p.i], true
	}
}

// finishField parses the optional [arg] after a field name.
func (p *parser) finishField(start int, name string) (*fieldExpr, error) {
	f := &fieldExpr{off: start, name: name}
	if p.i < len(p.s) && p.s[p.i] == '[' {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
			s, err := p.readQuoted()
			if err != nil {
				return nil, err
			}
			f.arg = s
		} else {
			j := p.i
			for j < len(p.s) && !isBlank(p.s[j]) && !strings.ContainsRune("[]\"'", rune(p.s[j])) {
				j++
			}
			if j == p.i {
				return nil, errAt(p.i, "expected a field argument after '['")
			}
			f.arg = p.s[p.i:j]
			p.i = j
		}
		if p.i >= len(p.s) || p.s[p.i] != ']' {
			return nil, errAt(p.i, "expected ']' after field argument")
		}
		p.i++
		f.hasArg = true
	}
	return f, nil
}

// finishTransformer parses "(arg)" after a transformer or val name.
func (p *parser) finishTransformer(start int, name string) (*fieldExpr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.i++ // '('
	inner, err := p.parseFieldExpr()
	if err != nil {
		return nil, err
	}
	p.skipWS()
	if p.i < len(p.s) && p.s[p.i] == ',' {
		return nil, errAt(p.i, "transformer %s with several arguments is not supported", name)
	}
	if p.i >= len(p.s) || p.s[p.i] != ')' {
		return nil, errAt(p.i, "expected ')' to close %s(", name)
	}
	p.i++
	return &fieldExpr{off: start, transform: name, inner: inner}, nil
}

// parseFieldExpr parses a field or a transformer applied to one.
func (p *parser) parseFieldExpr() (*fieldExpr, error) {
	p.skipWS()
	start := p.i
	name, ok := p.readName()
	if !ok {
		return nil, errAt(p.i, "expected a field but found %s", p.near())
	}
	if (transformers[name] || name == "val") && p.i < len(p.s) && p.s[p.i] == '(' {
		return p.finishTransformer(start, name)
	}
	if !strings.Contains(name, ".") {
		return nil, errAt(start, "expected a field but found %q", name)
	}
	return p.finishField(start, name)
}

var (
	numOps  = []string{"<=", "<", ">=", ">"}
	eqOps   = []string{"==", "=", "!="}
	wordOps = []string{"bcontains", "bstartswith", "contains", "endswith", "glob", "icontains", "iglob", "startswith", "regex"}
	listOps = []string{"intersects", "in", "pmatch"}
	mods    = []string{"oneof", "anyof", "allof"}
)

func (p *parser) parseComparison(start int, lhs *fieldExpr) (node, error) {
	p.skipWS()
	c := &checkNode{off: start, lhs: lhs}
	opAt := p.i
	if p.keyword("exists", ")$") {
		c.op = "exists"
		return c, nil
	}
	for _, op := range numOps {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			c.op = op
			return c, p.parseScalar(c)
		}
	}
	for _, op := range eqOps {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			c.op = op
			return c, p.parseStrRHS(c)
		}
	}
	for _, op := range wordOps {
		if p.keyword(op, "") {
			c.op = op
			return c, p.parseStrRHS(c)
		}
	}
	for _, op := range listOps {
		if p.keyword(op, "(") {
			c.op = op
			p.skipWS()
			if p.atTransformer() {
				return c, p.parseScalar(c)
			}
			return c, p.parseList(c)
		}
	}
	return nil, errAt(opAt, "expected an operator after %s but found %s", lhs, p.near())
}

// parseStrRHS parses what follows a string operator: an optional modifier
// with a list, or a single value.
func (p *parser) parseStrRHS(c *checkNode) error {
	p.skipWS()
	for _, m := range mods {
		if p.keyword(m, "(") {
			c.mod = m
			return p.parseList(c)
		}
	}
	return p.parseScalar(c)
}

// atTransformer reports whether a transformer or val( starts at the cursor.
func (p *parser) atTransformer() bool {
	j := p.i
	for j < len(p.s) && isIdentChar(p.s[j]) {
		j++
	}
	name := p.s[p.i:j]
	return j < len(p.s) && p.s[j] == '(' && (transformers[name] || name == "val")
}

// parseScalar parses a single RHS value: quoted, bare, or a transformer.
func (p *parser) parseScalar(c *checkNode) error {
	p.skipWS()
	if p.atTransformer() {
		f, err := p.parseFieldExpr()
		if err != nil {
			return err
		}
		c.rhs = f
		return nil
	}
	v, err := p.readValue()
	if err != nil {
		return err
	}
	c.values = []value{v}
	return nil
}

func (p *parser) readValue() (value, error) {
	start := p.i
	if p.i < len(p.s) && (p.s[p.i] == '"' || p.s[p.i] == '\'') {
		s, err := p.readQuoted()
		if err != nil {
			return value{}, err
		}
		return value{off: start, text: s, quoted: true}, nil
	}
	for p.i < len(p.s) && !isBlank(p.s[p.i]) && !strings.ContainsRune("(),=\"'", rune(p.s[p.i])) {
		p.i++
	}
	if p.i == start {
		return value{}, errAt(p.i, "expected a value but found %s", p.near())
	}
	return value{off: start, text: p.s[start:p.i]}, nil
}

// parseList parses "(v, v, ...)" or a bare list name.
func (p *parser) parseList(c *checkNode) error {
	p.skipWS()
	c.list = true
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		v, err := p.readValue()
		if err != nil {
			return errAt(p.i, "expected a list but found %s", p.near())
		}
		if v.quoted {
			return errAt(v.off, "expected a list but found a quoted string")
		}
		c.listName = v.text
		return nil
	}
	p.i++
	p.skipWS()
	if p.i < len(p.s) && p.s[p.i] == ')' {
		p.i++
		return nil
	}
	for {
		p.skipWS()
		v, err := p.readValue()
		if err != nil {
			return err
		}
		c.values = append(c.values, v)
		p.skipWS()
		if p.i >= len(p.s) {
			return errAt(p.i, "expected ',' or ')' in list but found end of condition")
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case ')':
			p.i++
			return nil
		default:
			return errAt(p.i, "expected ',' or ')' in list but found %s", p.near())
		}
	}
}

// readQuoted reads a single- or double-quoted string at the cursor and
// unescapes it.
func (p *parser) readQuoted() (string, error) {
	start := p.i
	s, n, err := unquote(p.s[p.i:])
	if err != nil {
		if pe, ok := err.(*posError); ok {
			pe.off += start
			return "", pe
		}
		return "", err
	}
	p.i += n
	return s, nil
}

// unquote unescapes the quoted string at the start of s and returns it with
// the number of bytes consumed. Escapes are those of the Falco language:
// \b \f \n \r \t \\ \/ \xHH and the quote character itself.
func unquote(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c != '\\':
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			break
		}
		i++
		switch e := s[i]; e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', '/':
			b.WriteByte(e)
		case ' ':
			b.WriteString("\\ ")
		case 'x':
			if i+2 >= len(s) {
				return "", 0, errAt(i-1, "incomplete \\x escape")
			}
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", 0, errAt(i-1, "invalid \\x escape %q", s[i-1:i+3])
			}
			b.WriteByte(byte(v))
			i += 2
		default:
			if e == q {
				b.WriteByte(e)
				continue
			}
			return "", 0, errAt(i-1, "invalid escape \\%c in quoted string", e)
		}
	}
	return "", 0, errAt(0, "unterminated quoted string")
}
