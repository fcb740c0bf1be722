package rules

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseCondition checks that the condition parser never panics, that
// every error carries an offset inside the input, and that the canonical
// form of a parsed condition parses back to itself.
func FuzzParseCondition(f *testing.F) {
	for _, s := range []string{
		"evt.type in (execve, execveat) and not proc.name = nc",
		"(a or b) and not (c and d)",
		`proc.cmdline contains "x\"y" or proc.name in ('a b', c)`,
		"tolower(basename(proc.exe)) startswith anyof (a, b)",
		"jevt.value[/a/b] exists and ka.uri.param[command] = sh",
		"fd.sport >= 0x10 and proc.aname[2] glob '*sh'",
		"not not not(x)",
		`proc.name = "\x41\t\\"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseCondition(s)
		if err != nil {
			var pe *posError
			if !errors.As(err, &pe) {
				t.Fatalf("error without position: %v", err)
			}
			if pe.off < 0 || pe.off > len(s) {
				t.Fatalf("error offset %d outside input of length %d", pe.off, len(s))
			}
			return
		}
		canon := astString(n)
		if strings.Contains(canon, `\`) {
			return // Go quoting of odd bytes is not the rules language's
		}
		n2, err := parseCondition(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if c2 := astString(n2); c2 != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, c2)
		}
	})
}

// FuzzLoad checks that loading and compiling arbitrary rules files never
// panics and that every diagnostic has a position.
func FuzzLoad(f *testing.F) {
	// Seeds stay small: the fuzzer minimises every new input, and large
	// seeds make that slow.
	f.Add([]byte("- rule: r\n  desc: d\n  condition: evt.type = execve and proc.name in (l)\n  output: '%proc.name'\n  priority: info\n- list: l\n  items: [a, '\"b c\"']\n"))
	f.Add([]byte("- macro: m\n  condition: a\n- macro: a\n  condition: m\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: debug\n"))
	f.Add([]byte("- rule: r\n  exceptions:\n    - name: e\n      fields: [proc.name]\n      values: [[x]]\n  override:\n    exceptions: append\n"))
	f.Add([]byte("- required_engine_version: 99\n- required_plugin_versions: [{name: x, version: 1.0.0}]\n--- \n- what: 1\n"))
	f.Add([]byte("- rule: k\n  desc: d\n  condition: ka.req.pod.containers.image intersects (a) and jevt.value[/x] exists\n  output: '%ka.uri.param[x] %50ka.verb'\n  priority: warning\n  source: k8s_audit\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		rs, diags := Load(File{Name: "f.yaml", Data: data})
		eng, cdiags := Compile(rs)
		for _, d := range append(diags, cdiags...) {
			if d.Pos.File != "f.yaml" || d.Pos.Line < 1 {
				t.Fatalf("diagnostic without position: %v", d)
			}
		}
		var ev SyscallEvent
		ev.SetString(EvtType, "execve")
		ev.SetString(ProcName, "a")
		for _, r := range eng.MatchSyscall(nil, &ev) {
			_ = r.FormatSyscall(&ev)
		}
	})
}
