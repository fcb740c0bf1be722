package server_test

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/console"
)

func postAlert(t *testing.T, h *harness, pod string) {
	t.Helper()
	body := `{"alerts":[{"rule":"Known Cryptominer Process Executed","priority":"Critical","target":{"namespace":"shop","pod":"` + pod + `"}}]}`
	if code, out := h.do(t, "POST", "/v1/alerts", token, []byte(body)); code != http.StatusAccepted {
		t.Fatalf("POST /v1/alerts: %d %v", code, out)
	}
}

// TestStream: an incident created or changed after the stream opens is
// sent as an "incident" event, each change once.
func TestStream(t *testing.T) {
	h := start(t, "")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("GET /v1/stream: %d %s", resp.StatusCode, ct)
	}
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "event: "):
				ev = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: ") && ev == "incident":
				events <- strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	postAlert(t, h, "web-1")
	select {
	case data := <-events:
		if !strings.Contains(data, `"pod":"web-1"`) || !strings.Contains(data, `"state":"open"`) {
			t.Errorf("incident event = %s", data)
		}
	case <-ctx.Done():
		t.Fatal("no incident event within 15s")
	}
	if code, _ := h.do(t, "POST", "/v1/incidents/1/notes", token, []byte(`{"text":"looking"}`)); code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("note: %d", code)
	}
	select {
	case data := <-events:
		if !strings.Contains(data, `"id":1`) {
			t.Errorf("change event = %s", data)
		}
	case <-ctx.Done():
		t.Fatal("no event for the note")
	}
	select {
	case data := <-events:
		t.Errorf("an unchanged incident was sent again: %s", data)
	case <-time.After(1500 * time.Millisecond):
	}
	req, _ = http.NewRequest("GET", h.url+"/v1/stream", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stream without a token: %v %v", resp.StatusCode, err)
	}
}

// TestSummaryAndSensors: the overview counts incidents, and a sensor's
// heartbeat (an empty batch) and batches report it with its drops.
func TestSummaryAndSensors(t *testing.T) {
	h := start(t, "")
	postAlert(t, h, "web-1")
	postAlert(t, h, "web-2")
	req, _ := http.NewRequest("POST", h.url+"/v1/sensor/alerts", strings.NewReader(`{"alerts":[]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Quell-Sensor-Host", "node-1")
	req.Header.Set("X-Quell-Sensor-Dropped", "42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("heartbeat: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, _ := h.do(t, "POST", "/v1/alerts", token, []byte(`{"alerts":[]}`)); code != http.StatusBadRequest {
		t.Errorf("an empty batch outside the sensor endpoint: %d, want 400", code)
	}
	code, out := h.do(t, "GET", "/v1/summary", token, nil)
	if code != 200 {
		t.Fatalf("summary: %d %v", code, out)
	}
	if open := out["open_by_severity"].(map[string]any); open["critical"] != float64(2) {
		t.Errorf("open by severity = %v", open)
	}
	rules := out["alerts_by_rule"].([]any)
	if len(rules) != 1 || rules[0].(map[string]any)["total"] != float64(2) {
		t.Errorf("alerts by rule = %v", rules)
	}
	sensors := out["sensors"].([]any)
	if len(sensors) != 1 {
		t.Fatalf("sensors = %v", sensors)
	}
	s := sensors[0].(map[string]any)
	if s["host"] != "node-1" || s["dropped"] != float64(42) || s["connected"] != true || s["token"] != "tester" {
		t.Errorf("sensor = %v", s)
	}
	if code, _ := h.do(t, "GET", "/v1/rules", token, nil); code != http.StatusNotImplemented {
		t.Errorf("rules without a rules engine: %d", code)
	}
}

// TestConsoleServed: the console's files need no token and carry the CSP;
// GET / redirects to it while POST / stays Falco's.
func TestConsoleServed(t *testing.T) {
	h := start(t, "")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(h.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/ui/" {
		t.Errorf("GET / = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, path := range []string{"/ui/", "/ui/app.js", "/ui/style.css"} {
		resp, err := http.Get(h.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != console.CSP || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("GET %s = %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
		}
	}
	if code, _ := h.do(t, "POST", "/", "", []byte(`{}`)); code != http.StatusUnauthorized {
		t.Errorf("POST / without a token: %d", code)
	}
}

// TestProxyUserHeader: with server.proxy_user_header, a loopback peer's
// header signs the user in (the actor of what it does); without the
// setting the header means nothing.
func TestProxyUserHeader(t *testing.T) {
	h := startWith(t, "", func(c *config.Server) { c.ProxyUserHeader = "X-Forwarded-User" })
	postAlert(t, h, "web-1")
	req, _ := http.NewRequest("POST", h.url+"/v1/incidents/1/notes", strings.NewReader(`{"text":"mine"}`))
	req.Header.Set("X-Forwarded-User", "alice@example.com")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("note through the proxy: %v %v", resp, err)
	}
	resp.Body.Close()
	_, out := h.do(t, "GET", "/v1/incidents/1", token, nil)
	tl := out["timeline"].([]any)
	if last := tl[len(tl)-1].(map[string]any); last["actor"] != "proxy:alice@example.com" {
		t.Errorf("note actor = %v", last["actor"])
	}
	plain := start(t, "")
	req, _ = http.NewRequest("GET", plain.url+"/v1/incidents", nil)
	req.Header.Set("X-Forwarded-User", "alice@example.com")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the header without the setting: %v %v", resp.StatusCode, err)
	}
}
