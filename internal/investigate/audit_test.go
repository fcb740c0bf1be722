package investigate

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func auditJSON(verb, resource, sub, name, uid, user string, code int, at time.Time, extra string) []byte {
	return fmt.Appendf(nil, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"id-%s-%d","stage":"ResponseComplete","verb":%q,
"user":{"username":%q,"groups":["g1"]},"sourceIPs":["10.0.0.9"],"userAgent":"kubectl/v1.36",
"objectRef":{"resource":%q,"subresource":%q,"namespace":"ns","name":%q,"apiGroup":"apps"},
"responseStatus":{"code":%d},"responseObject":{"metadata":{"name":"from-response","uid":%q}},"stageTimestamp":%q%s}`,
		verb, at.UnixNano(), verb, user, resource, sub, name, code, uid, at.Format(time.RFC3339Nano), extra)
}

func TestAuditIndex(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	x := NewAuditIndex(0)
	x.Observe(auditJSON("create", "deployments", "", "web", "u1", "bob", 201, t0, ""))
	x.Observe(auditJSON("patch", "deployments", "", "web", "u1", "carol", 200, t0.Add(2*time.Minute), ""))
	x.Observe(auditJSON("update", "deployments", "", "web", "u1", "dave", 200, t0.Add(time.Minute), "")) // older than carol's: not the last change
	x.Observe(auditJSON("patch", "deployments", "scale", "web", "u1", "eve", 200, t0.Add(3*time.Minute), ""))
	x.Observe(auditJSON("delete", "deployments", "", "web", "u1", "frank", 200, t0.Add(4*time.Minute), ""))
	x.Observe(auditJSON("patch", "deployments", "", "web", "u1", "mallory", 403, t0.Add(5*time.Minute), ""))
	x.Observe([]byte(`{"stage":"ResponseComplete","verb":"create","objectRef":`)) // malformed: ignored
	created, changed, ok := x.Origin("apps", "deployments", "ns", "web", "u1")
	if !ok {
		t.Fatal("nothing known about deployments ns/web")
	}
	want := &Actor{User: "bob", Groups: []string{"g1"}, SourceIPs: []string{"10.0.0.9"}, UserAgent: "kubectl/v1.36", Verb: "create", Time: t0, AuditID: fmt.Sprintf("id-create-%d", t0.UnixNano())}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if changed == nil || changed.User != "carol" {
		t.Errorf("last changed by %+v, want carol (the scale subresource, the delete and the refused patch do not count)", changed)
	}
	if _, _, ok := x.Origin("apps", "deployments", "ns", "web", "u-other"); ok {
		t.Error("another object of the same name answered")
	}

	// A namesake created later replaces what was known.
	x.Observe(auditJSON("create", "deployments", "", "web", "u2", "grace", 201, t0.Add(10*time.Minute), ""))
	if c, ch, _ := x.Origin("apps", "deployments", "ns", "web", ""); c == nil || c.User != "grace" || ch != nil {
		t.Errorf("after a namesake: created %+v changed %+v", c, ch)
	}
	// generateName: the name comes from the response; impersonation and
	// service accounts are named.
	x.Observe(auditJSON("create", "deployments", "", "", "u3", "system:serviceaccount:kube-system:deployer", 201, t0, `,"impersonatedUser":{"username":"system:serviceaccount:team:ci","groups":["system:serviceaccounts"]}`))
	c, _, ok := x.Origin("apps", "deployments", "ns", "from-response", "u3")
	if !ok || c.User != "system:serviceaccount:team:ci" || c.ServiceAccount != "team/ci" || c.ImpersonatedBy != "system:serviceaccount:kube-system:deployer" {
		t.Errorf("impersonated creation = %+v", c)
	}
}

func TestAuditIndexIsBounded(t *testing.T) {
	x := NewAuditIndex(100)
	t0 := time.Now()
	for i := range 1000 {
		x.Observe(auditJSON("create", "deployments", "", fmt.Sprintf("d%d", i), "", "bob", 201, t0, ""))
	}
	if n := len(x.objects); n != 100 || x.order.Len() != 100 {
		t.Errorf("index holds %d objects (%d in order), want 100", n, x.order.Len())
	}
	if _, _, ok := x.Origin("apps", "deployments", "ns", "d999", ""); !ok {
		t.Error("the newest object was evicted")
	}
	if _, _, ok := x.Origin("apps", "deployments", "ns", "d0", ""); ok {
		t.Error("the oldest object was kept")
	}
}

func FuzzAuditObserve(f *testing.F) {
	f.Add(auditJSON("create", "pods", "", "p", "u", "bob", 201, time.Unix(0, 0), ""))
	f.Add([]byte(`{"stage":"ResponseComplete","verb":"patch","objectRef":{"resource":"pods","name":"x"},"responseStatus":{"code":200}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		x := NewAuditIndex(8)
		x.Observe(raw)
		x.Observe(raw)
		if len(x.objects) > 1 || x.order.Len() != len(x.objects) {
			t.Fatalf("one event made %d objects (%d in order)", len(x.objects), x.order.Len())
		}
	})
}

func TestSplitImage(t *testing.T) {
	for _, tt := range []struct {
		ref  string
		want Image
	}{
		{"busybox", Image{Registry: "docker.io", Repository: "library/busybox", Tag: "latest"}},
		{"xmrig/xmrig:6.21", Image{Registry: "docker.io", Repository: "xmrig/xmrig", Tag: "6.21"}},
		{"ghcr.io/org/app@sha256:abc", Image{Registry: "ghcr.io", Repository: "org/app", Digest: "sha256:abc"}},
		{"localhost/app:dev", Image{Registry: "localhost", Repository: "app", Tag: "dev"}},
		{"registry:5000/team/app:1.0@sha256:def", Image{Registry: "registry:5000", Repository: "team/app", Tag: "1.0", Digest: "sha256:def"}},
	} {
		tt.want.Container, tt.want.Reference = "c", tt.ref
		if diff := cmp.Diff(tt.want, splitImage("c", tt.ref)); diff != "" {
			t.Errorf("splitImage(%q) (-want +got):\n%s", tt.ref, diff)
		}
	}
}

func TestSensitive(t *testing.T) {
	for p, want := range map[string]bool{
		"/": true, "/etc": true, "/etc/ssl/certs": true, "/var": true, "/var/run/docker.sock": true, "/run/containerd/containerd.sock": true,
		"/var/lib/kubelet/pods": true, "/home/alice": true, "/var/lib": true, "/data/app": false, "/mnt/scratch": false, "/opt/tools": false,
		"/var/lib/app-data": false, "/etc/../etc/shadow": true,
	} {
		if got := sensitive(p); got != want {
			t.Errorf("sensitive(%q) = %v, want %v", p, got, want)
		}
	}
}
