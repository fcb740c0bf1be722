package rules

import (
	"encoding/base64"
	"strings"
)

// transform wraps an accessor in a transformer (tolower, toupper, b64,
// basename, len).
func transform[E any](f *fieldExpr, in accessor[E]) (accessor[E], error) {
	name := f.String()
	switch f.transform {
	case "len":
		out := accessor[E]{name: name, kind: kindInt}
		switch in.kind {
		case kindList:
			get := in.list
			out.num = func(e *E) (int64, bool) {
				l, ok := get(e)
				return int64(len(l)), ok
			}
		case kindString:
			get := in.str
			out.num = func(e *E) (int64, bool) {
				s, ok := get(e)
				return int64(len(s)), ok
			}
		default:
			return out, errAt(f.off, "len() needs a string or list field, not %s", in.name)
		}
		return out, nil
	case "tolower", "toupper", "b64", "basename":
	default:
		return in, errAt(f.off, "transformer %s is not supported", f.transform)
	}
	if in.kind != kindString {
		return in, errAt(f.off, "%s() needs a string field, not %s (%s)", f.transform, in.name, in.kind)
	}
	var fn func(string) (string, bool)
	switch f.transform {
	case "tolower":
		fn = func(s string) (string, bool) { return strings.ToLower(s), true }
	case "toupper":
		fn = func(s string) (string, bool) { return strings.ToUpper(s), true }
	case "b64":
		fn = func(s string) (string, bool) {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return "", false
			}
			return string(b), true
		}
	case "basename":
		fn = func(s string) (string, bool) {
			if i := strings.LastIndexByte(s, '/'); i >= 0 {
				return s[i+1:], true
			}
			return s, true
		}
	}
	get := in.str
	return accessor[E]{name: name, kind: kindString, str: func(e *E) (string, bool) {
		s, ok := get(e)
		if !ok {
			return "", false
		}
		return fn(s)
	}}, nil
}
