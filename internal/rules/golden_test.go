package rules_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/rules/replay"
)

var update = flag.Bool("update", false, "rewrite golden files")

// A golden case is a file of sections "-- name --": "rules.yaml" (loaded
// without the built-ins; several "rules*.yaml" sections load in order),
// "events.jsonl", and "want", which holds the diagnostics, each rule's
// expanded condition and event types, and the alerts.
func TestGolden(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "golden", "*.ruletest"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			secs := splitSections(string(data))
			got := runGolden(t, secs)
			if *update {
				secs.set("want", got)
				if err := os.WriteFile(path, []byte(secs.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if diff := cmp.Diff(secs.get("want"), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s\n(run with -update to accept)", path, diff)
			}
		})
	}
}

func runGolden(t *testing.T, secs sections) string {
	var files []rules.File
	for _, s := range secs {
		if strings.HasPrefix(s.name, "rules") {
			files = append(files, rules.File{Name: s.name, Data: []byte(s.body)})
		}
	}
	var b strings.Builder
	eng, diags := rules.LoadEngine(true, files...)
	for _, d := range diags {
		fmt.Fprintln(&b, "diag:", d)
	}
	for _, r := range eng.Rules() {
		fmt.Fprintf(&b, "rule %q: %s\n", r.Name, r.Expanded)
		if len(r.EventTypes) > 0 {
			fmt.Fprintf(&b, "  evttypes: %s\n", strings.Join(r.EventTypes, " "))
		}
	}
	if ev := secs.get("events.jsonl"); ev != "" {
		_, err := replay.Run(t.Context(), eng, strings.NewReader(ev), func(a replay.Alert) error {
			fmt.Fprintf(&b, "event %d: %s: %s\n", a.Event, a.Rule, a.Output)
			return nil
		}, func(le *replay.LineError) { fmt.Fprintln(&b, "bad:", le) })
		if err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

type section struct{ name, body string }

type sections []section

func splitSections(s string) sections {
	var out sections
	for _, line := range strings.SplitAfter(s, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "-- ") && strings.HasSuffix(trim, " --") && len(trim) > 6 {
			out = append(out, section{name: strings.TrimSpace(trim[3 : len(trim)-3])})
			continue
		}
		if len(out) == 0 {
			out = append(out, section{name: ""})
		}
		out[len(out)-1].body += line
	}
	return out
}

func (ss sections) get(name string) string {
	for _, s := range ss {
		if s.name == name {
			return s.body
		}
	}
	return ""
}

func (ss *sections) set(name, body string) {
	for i := range *ss {
		if (*ss)[i].name == name {
			(*ss)[i].body = body
			return
		}
	}
	*ss = append(*ss, section{name: name, body: body})
}

func (ss sections) String() string {
	var b bytes.Buffer
	for _, s := range ss {
		if s.name != "" {
			fmt.Fprintf(&b, "-- %s --\n", s.name)
		}
		b.WriteString(s.body)
	}
	return b.String()
}
