package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Webhook posts the Message as JSON to a URL.
type Webhook struct {
	URL    string
	Client *http.Client // nil: a client with a 10s timeout
}

var _ Notifier = (*Webhook)(nil)

// Name implements Notifier.
func (w *Webhook) Name() string { return "webhook" }

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, m Message) error {
	return postJSON(ctx, w.Client, w.URL, m)
}

// Slack posts a readable Block Kit message to an incoming webhook.
type Slack struct {
	URL    string
	Client *http.Client
}

var _ Notifier = (*Slack)(nil)

// Name implements Notifier.
func (s *Slack) Name() string { return "slack" }

// Notify implements Notifier.
func (s *Slack) Notify(ctx context.Context, m Message) error {
	return postJSON(ctx, s.Client, s.URL, slackPayload(m))
}

var kindText = map[Kind]string{
	Opened:          ":rotating_light: New incident",
	Contained:       ":white_check_mark: Contained",
	Failed:          ":x: Response failed",
	ApprovalPending: ":hourglass: Approval needed",
}

func slackPayload(m Message) map[string]any {
	inc := m.Incident
	t := inc.Target
	head := fmt.Sprintf("%s #%d: %s", kindText[m.Kind], inc.ID, inc.Title)
	fields := []map[string]string{
		{"type": "mrkdwn", "text": "*Severity*\n" + inc.Severity.String()},
		{"type": "mrkdwn", "text": "*State*\n" + string(inc.State)},
		{"type": "mrkdwn", "text": "*Target*\n" + fmt.Sprintf("%s `%s`", t.Kind, strings.Trim(t.Namespace+"/"+t.Name, "/"))},
		{"type": "mrkdwn", "text": "*Cluster*\n" + t.Cluster},
		{"type": "mrkdwn", "text": "*Rules*\n" + strings.Join(inc.Rules, ", ")},
		{"type": "mrkdwn", "text": "*Alerts*\n" + fmt.Sprint(inc.AlertCount+inc.DedupCount)},
	}
	blocks := []map[string]any{
		{"type": "header", "text": map[string]string{"type": "plain_text", "text": truncate(head, 150)}},
		{"type": "section", "fields": fields},
	}
	if m.Detail != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]string{"type": "mrkdwn", "text": truncate(m.Detail, 2900)}})
	}
	if m.URL != "" {
		blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]string{{"type": "mrkdwn", "text": "<" + m.URL + "|Open in quell>"}}})
	}
	return map[string]any{"text": head, "blocks": blocks}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// postJSON posts v; a 4xx is permanent, a 5xx or transport error retryable.
func postJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	body, err := json.Marshal(v)
	if err != nil {
		return &Permanent{Err: fmt.Errorf("encode notification: %w", err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return &Permanent{Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("post notification: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests:
		return &Permanent{Err: fmt.Errorf("receiver answered %d", resp.StatusCode)}
	}
	return fmt.Errorf("receiver answered %d", resp.StatusCode)
}
