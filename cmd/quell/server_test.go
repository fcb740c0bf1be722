package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/testenv"
)

// syncBuffer is a buffer safe for the server goroutine and the test.
type syncBuffer = testenv.LogBuffer

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs `quell server` in-process on a free port with args
// added, until the test ends, and returns its URL once it is ready.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"server", "--listen", addr, "--log-format", "json"}, args...), &logs, &logs, nil)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server exited with %v\n%s", err, logs.String())
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	url := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerAndIncidentsCLI runs `quell server` on SQLite, posts a Falco
// alert the way Falco's http_output does, and drives `quell incidents`.
func TestServerAndIncidentsCLI(t *testing.T) {
	dir := t.TempDir()
	const token = "cli-test-token-0123456789"
	tokFile := writeToken(t, dir, token)
	url := startServer(t, "--store", "sqlite://"+filepath.Join(dir, "q.db"), "--auth-token-file", tokFile)
	body, err := os.ReadFile("../../internal/server/testdata/falco_network_tool.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", url+"/", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST / = %v %v", resp, err)
	}
	resp.Body.Close()

	env := []string{"QUELL_CLIENT_SERVER=" + url, "QUELL_CLIENT_TOKEN=" + token}
	out, stderr, err := runQuell(t, env, "incidents", "list")
	if err != nil {
		t.Fatalf("incidents list: %v %s", err, stderr)
	}
	for _, want := range []string{"ID", "open", "low", "pod shop/web-7d4b9c-x2x9z", "Launch Suspicious Network Tool in Container"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runQuell(t, env, "incidents", "show", "1")
	if err != nil || !strings.Contains(out, "Timeline:") || !strings.Contains(out, "alert") {
		t.Errorf("show: %v\n%s", err, out)
	}
	out, _, err = runQuell(t, env, "incidents", "list", "-o", "json", "--state", "open")
	if err != nil || !strings.Contains(out, `"state": "open"`) {
		t.Errorf("list -o json: %v\n%s", err, out)
	}
	out, _, err = runQuell(t, env, "incidents", "resolve", "1", "--reason", "pentest")
	if err != nil || !strings.Contains(out, "incident 1 is now resolved") {
		t.Errorf("resolve: %v %q", err, out)
	}
	_, _, err = runQuell(t, env, "incidents", "resolve", "1")
	if err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("second resolve: err = %v, want a 409", err)
	}
	if _, _, err := runQuell(t, []string{"QUELL_CLIENT_SERVER=" + url, "QUELL_CLIENT_TOKEN=wrong-token-0123456789"}, "incidents", "list"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: err = %v, want 401", err)
	}
}

func TestServerRefusesToStartWithoutTokens(t *testing.T) {
	_, _, err := runQuell(t, nil, "server", "--listen", "127.0.0.1:0", "--store", "sqlite://"+filepath.Join(t.TempDir(), "q.db"))
	if err == nil || !strings.Contains(err.Error(), "auth_token_file") {
		t.Fatalf("err = %v", err)
	}
}
