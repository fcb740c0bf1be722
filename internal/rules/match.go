package rules

import "strings"

// globMatch reports whether s matches the fnmatch(3) pattern without
// FNM_PATHNAME: '*' matches any run of bytes including '/', '?' any one
// byte, "[...]" a class ("[!...]" or "[^...]" negated, ranges allowed), and
// '\' escapes the next byte. fold makes the match ASCII case-insensitive.
// It does not allocate.
func globMatch(pattern, s string, fold bool) bool {
	px, sx := 0, 0
	starPx, starSx := -1, -1
	for sx < len(s) || px < len(pattern) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					px++
					sx++
					continue
				}
			case '[':
				if sx < len(s) {
					if ok, n, valid := matchClass(pattern[px:], s[sx], fold); valid {
						if ok {
							px += n
							sx++
							continue
						}
					} else if s[sx] == '[' {
						px++
						sx++
						continue
					}
				}
			default:
				q := px
				if c == '\\' && px+1 < len(pattern) {
					q++
					c = pattern[q]
				}
				if sx < len(s) && eqByte(c, s[sx], fold) {
					px = q + 1
					sx++
					continue
				}
			}
		}
		if starPx >= 0 && starSx < len(s) {
			starSx++
			px, sx = starPx+1, starSx
			continue
		}
		return false
	}
	return true
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	return fold && lower(a) == lower(b)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// matchClass matches c against the bracket expression at the start of p. It
// returns whether c matched, the length of the expression, and whether the
// expression was well formed.
func matchClass(p string, c byte, fold bool) (matched bool, n int, valid bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return matched != negate, i + 1, true
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			if hi == '\\' && i+2 < len(p) {
				i++
				hi = p[i+1]
			}
			i += 2
		}
		if lo <= c && c <= hi || fold && lower(lo) <= lower(c) && lower(c) <= lower(hi) {
			matched = true
		}
	}
	return false, 0, false
}

// indexFold is strings.Index for an already lower-cased ASCII needle,
// comparing case-insensitively without allocating.
func indexFold(s, lowerNeedle string) int {
	n := len(lowerNeedle)
	if n == 0 {
		return 0
	}
	for i := 0; i+n <= len(s); i++ {
		if lower(s[i]) != lowerNeedle[0] {
			continue
		}
		j := 1
		for j < n && lower(s[i+j]) == lowerNeedle[j] {
			j++
		}
		if j == n {
			return i
		}
	}
	return -1
}

// pathPattern is one compiled pmatch entry: its components, each possibly a
// glob.
type pathPattern struct {
	comps []string
	glob  []bool
}

func newPathPattern(p string) pathPattern {
	var pp pathPattern
	for _, c := range strings.Split(strings.Trim(p, "/"), "/") {
		if c == "" {
			continue
		}
		pp.comps = append(pp.comps, c)
		pp.glob = append(pp.glob, strings.ContainsAny(c, "*?["))
	}
	return pp
}

// match reports whether path equals the pattern or lies below it, component
// by component ("/var/run" matches "/var/run/x" but not "/var/runx").
func (pp *pathPattern) match(path string) bool {
	rest := path
	for i, want := range pp.comps {
		rest = strings.TrimLeft(rest, "/")
		if rest == "" {
			return false
		}
		comp := rest
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			comp, rest = rest[:j], rest[j:]
		} else {
			rest = ""
		}
		if pp.glob[i] {
			if !globMatch(want, comp, false) {
				return false
			}
		} else if comp != want {
			return false
		}
	}
	return true
}
