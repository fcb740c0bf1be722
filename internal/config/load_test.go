package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "quell.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadLayers(t *testing.T) {
	file := writeFile(t, "log:\n  level: debug\n  format: json\nserver:\n  listen: 0.0.0.0:9000\n  max_body_bytes: 2MiB\n  read_timeout: 3s\nrules:\n  files: [a.yaml, b.yaml]\n")
	cfg, err := Load(Sources{
		File:      file,
		Env:       []string{"QUELL_SERVER_MODE=enforce", "QUELL_LOG_FORMAT=text", "HOME=/root"},
		Overrides: []Override{{Key: "log.format", Value: "json", Source: "flag --log-format"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Log = Log{Level: slog.LevelDebug, Format: FormatJSON}
	want.Server.Listen = "0.0.0.0:9000"
	want.Server.MaxBodyBytes = 2 << 20
	want.Server.ReadTimeout = 3 * time.Second
	want.Server.Mode = ModeEnforce
	want.Rules.Files = []string{"a.yaml", "b.yaml"}
	if diff := cmp.Diff(want, *cfg); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadDefaultsAreValid(t *testing.T) {
	cfg, err := Load(Sources{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Default(), *cfg); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// problems returns the Problems inside a joined error as "key|source|msg".
func problems(err error) []string {
	var out []string
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		var p *Problem
		if errors.As(err, &p) {
			return []string{p.Key + "|" + p.Source + "|" + p.Msg}
		}
		return []string{"not a problem: " + err.Error()}
	}
	for _, e := range joined.Unwrap() {
		out = append(out, problems(e)...)
	}
	return out
}

func TestLoadBadValuesNameTheKey(t *testing.T) {
	file := writeFile(t, strings.Join([]string{
		"log:",
		"  level: loud",
		"  format: xml",
		"server:",
		"  listen: nowhere",
		"  store: mysql://x",
		"  max_body_bytes: -5",
		"  read_timeout: soon",
		"  colour: blue",
		"kubernetes: here",
		"",
	}, "\n"))
	_, err := Load(Sources{
		File:      file,
		Env:       []string{"QUELL_SERVER_MODE=yolo", "QUELL_NOPE=1"},
		Overrides: []Override{{Key: "server.idle_timeout", Value: "0s", Source: "flag --idle-timeout"}},
	})
	if err == nil {
		t.Fatal("Load accepted a bad config")
	}
	want := []string{
		"log.level|" + file + ":2:10|\"loud\" is not one of debug, info, warn, error",
		"server.read_timeout|" + file + ":8:17|\"soon\" is not a duration (like 30s or 5m)",
		"server.colour|" + file + ":9:11|unknown setting",
		"kubernetes|" + file + ":10:13|is a section, not a value; it holds kubernetes.cluster, kubernetes.clusters, kubernetes.default_cluster, kubernetes.kubeconfig, kubernetes.pod_watch",
		"QUELL_NOPE|environment|unknown setting",
		"log.format|" + file + ":3:11|\"xml\" is not one of text, json",
		"server.listen|" + file + ":5:11|\"nowhere\" is not host:port",
		"server.store|" + file + ":6:10|\"mysql://x\" is neither sqlite://PATH nor postgres://...",
		"server.mode|env QUELL_SERVER_MODE|\"yolo\" is not one of observe, dry-run, enforce",
		"server.max_body_bytes|" + file + ":7:19|must be greater than zero",
		"server.idle_timeout|flag --idle-timeout|must be greater than zero",
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestLoadFileErrors(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"syntax", "log: [\n", "parse config"},
		{"scalar document", "hello\n", "(document)"},
		{"list value", "log:\n  level: [a, b]\n", "log.level"},
		{"nested list", "rules:\n  files: [[a]]\n", "rules.files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(Sources{File: writeFile(t, tt.body)})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := Load(Sources{File: filepath.Join(t.TempDir(), "missing.yaml")}); err == nil {
		t.Error("Load of a missing file succeeded")
	}
	if cfg, err := Load(Sources{File: writeFile(t, "")}); err != nil || cfg.Server.Listen != Default().Server.Listen {
		t.Errorf("empty file: cfg=%v err=%v", cfg, err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("server.max_body_bytes"); got != "QUELL_SERVER_MAX_BODY_BYTES" {
		t.Errorf("EnvName = %q", got)
	}
}

func TestLoadPairsAndURLs(t *testing.T) {
	_, err := Load(Sources{Overrides: []Override{
		{Key: "server.tls_cert_file", Value: "/c.pem", Source: "flag"},
		{Key: "notify.webhook_url", Value: "ftp://x", Source: "flag"},
		{Key: "server.retention", Value: "-1h", Source: "flag"},
	}})
	want := []string{
		"server.tls_cert_file|flag|must be set together with server.tls_key_file",
		"server.retention|flag|must not be negative",
		`notify.webhook_url|flag|"ftp://x" is not an http(s) URL`,
	}
	if diff := cmp.Diff(want, problems(err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

func TestResponseSettings(t *testing.T) {
	cfg, err := Load(Sources{File: writeFile(t, strings.Join([]string{
		"response:",
		"  playbooks: [a.yaml, b.yaml]",
		"  credentials: jit",
		"  grace_period: 0s",
		"  suspensions_per_hour: 2",
		"",
	}, "\n"))})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.yaml", "b.yaml"}, cfg.Response.Playbooks); diff != "" {
		t.Errorf("playbooks (-want +got):\n%s", diff)
	}
	if cfg.Response.Credentials != CredentialsJIT || cfg.Response.GracePeriod != 0 || cfg.Response.SuspensionsPerHour != 2 {
		t.Errorf("response = %+v", cfg.Response)
	}
	if d := Default().Response.GracePeriod; d >= 0 {
		t.Errorf("default grace period %v, want negative (the pod's own)", d)
	}
	_, err = Load(Sources{Env: []string{"QUELL_RESPONSE_CREDENTIALS=root", "QUELL_RESPONSE_GRACE_PERIOD=1.5s",
		"QUELL_RESPONSE_ACTIONS_PER_MINUTE=many", "QUELL_RESPONSE_VERIFY_HOLD=0s"}})
	for _, w := range []string{
		`response.credentials (env QUELL_RESPONSE_CREDENTIALS): "root" is not one of standing, jit`,
		`response.grace_period (env QUELL_RESPONSE_GRACE_PERIOD): must be whole seconds`,
		`response.actions_per_minute (env QUELL_RESPONSE_ACTIONS_PER_MINUTE): "many" is not a whole number`,
		`response.verify_hold (env QUELL_RESPONSE_VERIFY_HOLD): must be greater than zero`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v lacks %q", err, w)
		}
	}
}
