package rules

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCondition(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"a and b or c", "((a and b) or c)"},
		{"a or b and c", "(a or (b and c))"},
		{"not a and b", "(not a and b)"},
		{"not not a", "not not a"},
		{"not(a)", "not a"},
		{"a and(b or c)", "(a and (b or c))"},
		{"proc.name in (a, 'b c', \"d\\\"e\")", `proc.name in (a, "b c", "d\"e")`},
		{"proc.name in ()", "proc.name in ()"},
		{"proc.name in(a,b)", "proc.name in (a, b)"},
		{"fd.name exists", "fd.name exists"},
		{"(fd.name exists)", "fd.name exists"},
		{"proc.aname[2]=sshd", "proc.aname[2] = sshd"},
		{`jevt.value[/requestObject/spec] exists`, "jevt.value[/requestObject/spec] exists"},
		{`k8s.pod.label["app.kubernetes.io/name"] = x`, "k8s.pod.label[app.kubernetes.io/name] = x"},
		{"tolower(basename(proc.exe)) = sh", "tolower(basename(proc.exe)) = sh"},
		{"proc.name = val(proc.pname)", "proc.name = val(proc.pname)"},
		{"fd.name startswith anyof (/a, /b)", "fd.name startswith anyof (/a, /b)"},
		{"evt.rawres >= -1", "evt.rawres >= -1"},
		{"proc.name intersects my_list", "proc.name intersects my_list"},
		{"order_macro and andmacro", "(order_macro and andmacro)"},
		{`proc.name = "\x41\t"`, `proc.name = "A\t"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := parseCondition(tt.in)
			if err != nil {
				t.Fatalf("parse %q: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, astString(n)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConditionErrors(t *testing.T) {
	tests := []struct {
		in  string
		off int
	}{
		{"", 0},
		{"a and", 5},
		{"(a", 2},
		{"proc.name", 9},
		{"proc.name = ", 12},
		{"proc.name in (a b)", 16},
		{"proc.name = 'x", 12},
		{`proc.name = "\q"`, 13},
		{"proc.name[", 10},
		{"a b", 2},
		{"proc.name contains", 10},
		{"join(x, proc.name) = a", 5},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := parseCondition(tt.in)
			var pe *posError
			if !errors.As(err, &pe) {
				t.Fatalf("parse %q: got %v, want a positioned error", tt.in, err)
			}
			if pe.off != tt.off {
				t.Errorf("parse %q: error %q at offset %d, want %d", tt.in, err, pe.off, tt.off)
			}
		})
	}
}

func TestGlobAndPmatch(t *testing.T) {
	globs := []struct {
		pat, s string
		fold   bool
		want   bool
	}{
		{"*", "/a/b", false, true},
		{"/etc/*", "/etc/a/b", false, true},
		{"/etc/?", "/etc/ab", false, false},
		{"[a-c]x", "bx", false, true},
		{"[!a-c]x", "bx", false, false},
		{"*.SH", "x.sh", true, true},
		{"*.SH", "x.sh", false, false},
		{`\*`, "*", false, true},
		{"a*b*c", "aXbYbZc", false, true},
		{"[", "[", false, true},
	}
	for _, g := range globs {
		if got := globMatch(g.pat, g.s, g.fold); got != g.want {
			t.Errorf("globMatch(%q, %q, %v) = %v", g.pat, g.s, g.fold, got)
		}
	}
	pm := []struct {
		pat, s string
		want   bool
	}{
		{"/var/run", "/var/run", true},
		{"/var/run", "/var/run/docker.sock", true},
		{"/var/run", "/var/runx", false},
		{"/var/*/x", "/var/lib/x/y", true},
		{"/", "/anything", true},
	}
	for _, p := range pm {
		pp := newPathPattern(p.pat)
		if got := pp.match(p.s); got != p.want {
			t.Errorf("pmatch %q %q = %v", p.pat, p.s, got)
		}
	}
}
