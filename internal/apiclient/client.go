// Package apiclient is a small client of quell's HTTP API, used by the CLI.
// Errors from the server are returned as *Error carrying the status and the
// server's message. A Client is safe for concurrent use.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"quell.dev/quell/internal/incident"
)

// Client talks to one quell server.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client for the server at base (http://host:port).
func New(base, token string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q is not an http(s) URL", base)
	}
	return &Client{base: strings.TrimSuffix(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// WithHTTPClient returns a copy of c using hc (for a private CA, say).
func (c *Client) WithHTTPClient(hc *http.Client) *Client {
	cp := *c
	cp.http = hc
	return &cp
}

// Error is a non-2xx answer.
type Error struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Where   string `json:"where"`
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
	if e.Where != "" {
		msg += " (at " + e.Where + ")"
	}
	return msg
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error *Error `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == nil {
			return &Error{Status: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		}
		e.Error.Status = resp.StatusCode
		return e.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode response of %s %s: %w", method, path, err)
	}
	return nil
}

// IncidentWithTimeline is an incident and its timeline.
type IncidentWithTimeline struct {
	incident.Incident
	Timeline []incident.Entry `json:"timeline"`
}

// List lists incidents matching query (the API's query parameters).
func (c *Client) List(ctx context.Context, query url.Values) ([]incident.Incident, string, error) {
	var out struct {
		Incidents []incident.Incident `json:"incidents"`
		Next      string              `json:"next"`
	}
	path := "/v1/incidents"
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out.Incidents, out.Next, err
}

// Get returns an incident and its timeline.
func (c *Client) Get(ctx context.Context, id int64) (*IncidentWithTimeline, error) {
	var out IncidentWithTimeline
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/incidents/%d", id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Transition calls POST /v1/incidents/{id}/{verb} (resolve, false-positive,
// reopen) with a reason.
func (c *Client) Transition(ctx context.Context, id int64, verb, reason string) (*incident.Incident, error) {
	var out incident.Incident
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/%s", id, verb), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Note adds a note to an incident.
func (c *Client) Note(ctx context.Context, id int64, text string) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/notes", id), map[string]string{"text": text}, nil)
}

// PostFalco sends one alert in Falco's JSON format to /v1/falco.
func (c *Client) PostFalco(ctx context.Context, alert any) error {
	return c.do(ctx, http.MethodPost, "/v1/falco", alert, nil)
}

// Restore reverts an incident's reversible actions and returns what was
// restored, as the server reports it.
func (c *Client) Restore(ctx context.Context, id int64) ([]json.RawMessage, error) {
	var out struct {
		Restored []json.RawMessage `json:"restored"`
	}
	err := c.do(ctx, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/restore", id), nil, &out)
	return out.Restored, err
}
