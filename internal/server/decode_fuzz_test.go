package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"quell.dev/quell/internal/rules"
)

// Every decoder either accepts its input or rejects it with a 4xx naming
// the problem; none panics.
func check4xx(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("decoder returned a non-API error: %v", err)
	}
	if ae.Status < 400 || ae.Status > 499 || ae.Message == "" {
		t.Fatalf("decoder error %d %q is not a described 4xx", ae.Status, ae.Message)
	}
}

func FuzzFalcoAlert(f *testing.F) {
	f.Add([]byte(`{"rule":"r","priority":"Notice","time":"2023-11-14T22:13:20.123456789Z","output_fields":{"evt.time":1700000000123456789,"k8s.ns.name":"a","k8s.pod.name":"b"}}`))
	f.Add([]byte(`{"rule":"r","priority":"Critical","source":"k8s_audit","output_fields":{"ka.target.resource":"deployments","ka.target.namespace":"n","ka.target.name":"d"}}`))
	f.Add([]byte(`{"rule":5}`))
	f.Add([]byte(`{`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fa falcoAlert
		if err := decodeBytes(body, &fa, false); err != nil {
			check4xx(t, err)
			return
		}
		a, err := fa.toAlert("c", time.Unix(0, 0))
		check4xx(t, err)
		if err == nil && (a.Rule == "" || a.Target.Cluster != "c") {
			t.Fatalf("accepted alert without rule or cluster: %+v", a)
		}
	})
}

func FuzzOwnAlerts(f *testing.F) {
	f.Add([]byte(`{"alerts":[{"rule":"r","priority":"Warning","target":{"namespace":"n","pod":"p"}}]}`))
	f.Add([]byte(`{"alerts":[{"rule":"r","priority":"Warning","target":{"workload":"w"}}]}`))
	f.Add([]byte(`{"alerts":[{"rule":"r","priority":"Warning","time":"bad"}]}`))
	f.Add([]byte(`{"alerts":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b ownBatch
		if err := decodeBytes(body, &b, true); err != nil {
			check4xx(t, err)
			return
		}
		for i := range b.Alerts {
			_, err := b.Alerts[i].toAlert("c", time.Unix(0, 0))
			check4xx(t, err)
		}
	})
}

func FuzzAuditList(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"EventList","items":[{"auditID":"a","stage":"ResponseComplete","verb":"create","objectRef":{"resource":"pods","namespace":"n"},"responseObject":{"metadata":{"name":"p"}}}]}`))
	f.Add([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"Event","auditID":"a","stage":"ResponseComplete"}`))
	f.Add([]byte(`{"apiVersion":"audit.k8s.io/v1","kind":"EventList","items":[1,2]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var head auditHead
		if err := decodeBytes(body, &head, false); err != nil {
			check4xx(t, err)
			return
		}
		events, err := rules.DecodeAudit(body)
		if err != nil {
			return
		}
		for _, ev := range events {
			var h auditHeader
			_ = json.Unmarshal(ev.Raw(), &h)
			if fields, err := auditFields(ev.Raw()); err == nil {
				_ = targetFromFields("c", "k8s_audit", "", fields)
			}
		}
	})
}

func TestJSONErrorPositions(t *testing.T) {
	err := decodeBytes([]byte("{\n  \"a\": ,\n}"), &map[string]any{}, false)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Where != "line 2, column 8" {
		t.Fatalf("err = %+v", err)
	}
}
