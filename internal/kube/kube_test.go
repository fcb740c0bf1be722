package kube

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:1001"}}
- {name: b, cluster: {server: "https://127.0.0.1:1002"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: ctx-a, context: {cluster: a, user: u}}
- {name: ctx-b, context: {cluster: b, user: u}}
current-context: ctx-a
`

func TestConfigContext(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(twoContexts), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ context, host string }{
		{"", "https://127.0.0.1:1001"},
		{"ctx-a", "https://127.0.0.1:1001"},
		{"ctx-b", "https://127.0.0.1:1002"},
	}
	for _, tt := range tests {
		cfg, err := Config(kc, tt.context)
		if err != nil {
			t.Fatalf("Config(%q): %v", tt.context, err)
		}
		if cfg.Host != tt.host || cfg.UserAgent != "quell" {
			t.Errorf("Config(%q): host %s agent %q, want %s", tt.context, cfg.Host, cfg.UserAgent, tt.host)
		}
		if err := Check(kc, tt.context); err != nil {
			t.Errorf("Check(%q) = %v", tt.context, err)
		}
	}
	if _, err := Config(kc, "ctx-c"); err == nil {
		t.Error("Config of a missing context succeeded")
	}
	if err := Check(kc, "ctx-c"); !errors.Is(err, ErrNoContext) {
		t.Errorf("Check of a missing context = %v, want ErrNoContext", err)
	}
	if err := Check(filepath.Join(t.TempDir(), "none"), ""); err == nil || errors.Is(err, ErrNoContext) {
		t.Errorf("Check of a missing file = %v", err)
	}
}
