package rules

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sysEvent builds a syscall event from field names and values.
func sysEvent(t testing.TB, fields map[string]any) *SyscallEvent {
	t.Helper()
	ev := &SyscallEvent{}
	for k, v := range fields {
		if err := ev.SetField(k, v); err != nil {
			t.Fatalf("SetField(%s): %v", k, err)
		}
	}
	return ev
}

// auditEvent loads testdata/audit/<base>.json and applies edits, each
// "a/b/c" (slash-separated path) -> value; a nil value deletes the key.
func auditEvent(t testing.TB, base string, edits map[string]any) *AuditEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "audit", base+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	for path, v := range edits {
		keys := strings.Split(path, "/")
		cur := root
		for _, k := range keys[:len(keys)-1] {
			next, ok := cur[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				cur[k] = next
			}
			cur = next
		}
		if v == nil {
			delete(cur, keys[len(keys)-1])
		} else {
			cur[keys[len(keys)-1]] = v
		}
	}
	out, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := DecodeAudit(out)
	if err != nil || len(evs) != 1 {
		t.Fatalf("DecodeAudit: %v (%d events)", err, len(evs))
	}
	return evs[0]
}

func mustEngine(t testing.TB, noDefaults bool, files ...File) *Engine {
	t.Helper()
	eng, diags := LoadEngine(noDefaults, files...)
	if diags.HasErrors() {
		t.Fatalf("load: %v", diags.Err())
	}
	return eng
}

func names(rs []*Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

// jsonObj parses a JSON literal for test tables.
func jsonObj(s string) any {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}
