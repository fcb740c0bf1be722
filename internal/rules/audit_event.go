package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AuditEvent is one Kubernetes audit event (audit.k8s.io/v1 Event) of the
// k8s_audit source. Fields are computed from the decoded JSON the way
// Falco's k8saudit plugin computes them.
type AuditEvent struct {
	raw  []byte
	root map[string]any
	time time.Time
}

// Time returns the event time (stageTimestamp, else
// requestReceivedTimestamp), the zero time if neither is set.
func (e *AuditEvent) Time() time.Time { return e.time }

// Raw returns the event's JSON.
func (e *AuditEvent) Raw() []byte { return e.raw }

// ErrNotAudit is returned by DecodeAudit for JSON that is not an
// audit.k8s.io Event or EventList.
var ErrNotAudit = errors.New("not an audit.k8s.io Event or EventList")

// IsAuditJSON reports whether obj (a decoded JSON object) looks like an
// audit.k8s.io/v1 Event or EventList.
func IsAuditJSON(apiVersion, kind string) bool {
	return strings.HasPrefix(apiVersion, "audit.k8s.io/") && (kind == "Event" || kind == "EventList")
}

// DecodeAudit decodes an audit.k8s.io Event or EventList (or a JSON array of
// them) into events.
func DecodeAudit(data []byte) ([]*AuditEvent, error) {
	v, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	return auditFromValue(v, data)
}

func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid json: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid json: trailing data after value")
	}
	return v, nil
}

func auditFromValue(v any, raw []byte) ([]*AuditEvent, error) {
	switch v := v.(type) {
	case []any:
		var out []*AuditEvent
		for _, el := range v {
			evs, err := auditFromValue(el, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, evs...)
		}
		return out, nil
	case map[string]any:
		apiVersion, _ := v["apiVersion"].(string)
		kind, _ := v["kind"].(string)
		if !IsAuditJSON(apiVersion, kind) {
			return nil, fmt.Errorf("%w (apiVersion %q, kind %q)", ErrNotAudit, apiVersion, kind)
		}
		if kind == "EventList" {
			// Items of an EventList carry no apiVersion or kind of their own.
			items, _ := v["items"].([]any)
			out := make([]*AuditEvent, 0, len(items))
			for i, el := range items {
				m, ok := el.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%w: items[%d] is not an object", ErrNotAudit, i)
				}
				out = append(out, eventFromMap(m, nil))
			}
			return out, nil
		}
		return []*AuditEvent{eventFromMap(v, raw)}, nil
	}
	return nil, ErrNotAudit
}

// eventFromMap wraps one decoded audit event; raw is its JSON if known.
func eventFromMap(v map[string]any, raw []byte) *AuditEvent {
	ev := &AuditEvent{root: v, raw: raw}
	if raw == nil {
		ev.raw, _ = json.Marshal(v)
	}
	for _, k := range []string{"stageTimestamp", "requestReceivedTimestamp"} {
		if s, ok := v[k].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				ev.time = t.UTC()
				break
			}
		}
	}
	return ev
}

// lookup follows keys from the root; ok is false if any is missing.
func (e *AuditEvent) lookup(keys ...string) (any, bool) {
	var cur any = e.root
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// jsonText renders a JSON value the way the k8saudit plugin does: strings
// as is, anything else as compact JSON.
func jsonText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// pointer resolves an RFC 6901 JSON pointer.
func (e *AuditEvent) pointer(ptr string) (any, bool) {
	if ptr == "" {
		return any(e.root), true
	}
	if !strings.HasPrefix(ptr, "/") {
		return nil, false
	}
	var cur any = e.root
	for _, tok := range strings.Split(ptr[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
