package rules

import "errors"

// outputSeg is one piece of a compiled output format: literal text or a
// field.
type outputSeg[E any] struct {
	lit   string
	field *accessor[E]
	width int // %20proc.name pads or truncates to 20 bytes
}

// outputFormat is a compiled output string.
type outputFormat[E any] struct {
	segs []outputSeg[E]
}

// compileOutput parses an output format. Fields the source cannot compute
// render as <NA> and are returned in unknown; syntax errors are *posError.
func compileOutput[E any](src *sourceDef[E], format string) (f outputFormat[E], unknown []string, err error) {
	lit := make([]byte, 0, len(format))
	flush := func() {
		if len(lit) > 0 {
			f.segs = append(f.segs, outputSeg[E]{lit: string(lit)})
			lit = lit[:0]
		}
	}
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			lit = append(lit, c)
			i++
			continue
		}
		start := i
		i++
		width := 0
		for i < len(format) && format[i] >= '0' && format[i] <= '9' {
			width = width*10 + int(format[i]-'0')
			i++
		}
		p := &parser{s: format, i: i}
		fe, perr := parseOutputField(p)
		if perr != nil {
			return f, unknown, perr
		}
		if fe == nil {
			if i >= len(format) {
				return f, unknown, errAt(start, "output ends with '%%'")
			}
			// Not a field: keep the text as is.
			lit = append(lit, format[start:i]...)
			continue
		}
		i = p.i
		flush()
		if fe.transform == "" && fe.name == "container.info" {
			continue // deprecated, renders as nothing
		}
		a, aerr := resolveFieldExpr(src, fe)
		if aerr != nil {
			if !errors.Is(aerr, ErrUnsupportedField) {
				return f, unknown, errAt(start, "%v", aerr)
			}
			unknown = append(unknown, fe.String())
			f.segs = append(f.segs, outputSeg[E]{lit: "<NA>"})
			continue
		}
		f.segs = append(f.segs, outputSeg[E]{field: &a, width: width})
	}
	flush()
	return f, unknown, nil
}

// parseOutputField reads a field or transformer at the cursor, or returns
// nil if none starts there.
func parseOutputField(p *parser) (*fieldExpr, error) {
	start := p.i
	name, ok := p.readName()
	if !ok {
		return nil, nil
	}
	if (transformers[name] || name == "val") && p.i < len(p.s) && p.s[p.i] == '(' {
		return p.finishTransformer(start, name)
	}
	if !containsDot(name) {
		p.i = start
		return nil, nil
	}
	return p.finishField(start, name)
}

func containsDot(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return true
		}
	}
	return false
}

// appendTo renders the output for ev.
func (f *outputFormat[E]) appendTo(dst []byte, ev *E) []byte {
	for i := range f.segs {
		s := &f.segs[i]
		if s.field == nil {
			dst = append(dst, s.lit...)
			continue
		}
		start := len(dst)
		var ok bool
		dst, ok = s.field.appendValue(dst, ev)
		if !ok {
			dst = append(dst[:start], "<NA>"...)
		}
		if s.width > 0 {
			n := len(dst) - start
			if n > s.width {
				dst = dst[:start+s.width]
			}
			for ; n < s.width; n++ {
				dst = append(dst, ' ')
			}
		}
	}
	return dst
}

// render returns the output for ev as a string.
func (f *outputFormat[E]) render(ev *E) string { return string(f.appendTo(nil, ev)) }

// fields lists the field names used by the format, for callers that want
// structured output.
func (f *outputFormat[E]) fields() []string {
	var out []string
	for _, s := range f.segs {
		if s.field != nil {
			out = append(out, s.field.name)
		}
	}
	return out
}
