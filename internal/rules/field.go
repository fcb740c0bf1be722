package rules

import (
	"net/netip"
	"strconv"
)

// kind is the type of value a field yields.
type kind uint8

const (
	kindString kind = iota
	kindInt
	kindBool // stored as an int, 0 or 1; renders as true/false
	kindIP
	kindList // several strings: "in" means subset, "intersects" overlap
)

func (k kind) String() string {
	switch k {
	case kindInt:
		return "number"
	case kindBool:
		return "bool"
	case kindIP:
		return "ip"
	case kindList:
		return "list"
	}
	return "string"
}

// accessor extracts one field from events of type E. Exactly one of the
// functions matching kind is set. The returned bool is false when the value
// is missing from the event.
type accessor[E any] struct {
	name string
	kind kind
	str  func(*E) (string, bool)
	num  func(*E) (int64, bool)
	ip   func(*E) (netip.Addr, bool)
	list func(*E) ([]string, bool)
	// nth returns element i of a list field without allocating; set for
	// fields with any semantics.
	nth func(*E, int) (string, bool)
	// any makes comparisons on a list field true when any element matches
	// (proc.aname without an index).
	any bool
	// ipnet gives "=" CIDR-membership semantics (fd.net, fd.snet, ...).
	ipnet bool
	// alt is a second accessor tried when this one does not match: fields
	// such as fd.ip match on either end of a connection.
	alt *accessor[E]
}

// sourceDef describes an event source: how to resolve a field name (with its
// optional argument) to an accessor.
type sourceDef[E any] struct {
	name    string
	resolve func(name, arg string, hasArg bool) (accessor[E], error)
}

// appendValue renders the field's value for outputs; ok is false when it is
// missing.
func (a *accessor[E]) appendValue(dst []byte, ev *E) ([]byte, bool) {
	switch a.kind {
	case kindString:
		s, ok := a.str(ev)
		if !ok {
			return dst, false
		}
		return append(dst, s...), true
	case kindInt:
		n, ok := a.num(ev)
		if !ok {
			return dst, false
		}
		return strconv.AppendInt(dst, n, 10), true
	case kindBool:
		n, ok := a.num(ev)
		if !ok {
			return dst, false
		}
		return strconv.AppendBool(dst, n != 0), true
	case kindIP:
		ip, ok := a.ip(ev)
		if !ok {
			if a.alt != nil {
				return a.alt.appendValue(dst, ev)
			}
			return dst, false
		}
		return ip.AppendTo(dst), true
	case kindList:
		l, ok := a.list(ev)
		if !ok || len(l) == 0 {
			return dst, false
		}
		dst = append(dst, '(')
		for i, s := range l {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, s...)
		}
		return append(dst, ')'), true
	}
	return dst, false
}

// stringValue returns the value as text, used by transformers and val().
func (a *accessor[E]) stringValue(ev *E) (string, bool) {
	switch a.kind {
	case kindString:
		return a.str(ev)
	case kindInt, kindBool, kindIP, kindList:
		b, ok := a.appendValue(nil, ev)
		return string(b), ok
	}
	return "", false
}
