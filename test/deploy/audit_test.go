package deploy_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/testenv"
)

// auditEvent is what this test reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Level, Stage, Verb string
	ObjectRef          *struct{ Resource, Namespace, Name string }
	RequestObject      json.RawMessage
}

// TestAuditWebhook gives a control plane of its own the chart's audit
// ConfigMap as docs/deploy.md says (the policy and the webhook kubeconfig,
// with the token file and CA it names), and checks that a pod's creation
// reaches the webhook over TLS with the bearer token, at the
// RequestResponse level quell's audit rules read.
func TestAuditWebhook(t *testing.T) {
	testenv.Cluster(t) // skips when the control plane cannot be built
	const token = "example-audit-token-0123456789"
	events := make(chan auditEvent, 256)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/audit" || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var list struct{ Items []auditEvent }
		if err := json.NewDecoder(r.Body).Decode(&list); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, e := range list.Items {
			select {
			case events <- e:
			default:
			}
		}
	}))
	srv.StartTLS()
	defer srv.Close()

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokenFile := write("audit-token", []byte(token+"\n"))
	caFile := write("ca.crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	out, err := helmTemplate(t, defaultRel, defaultNS, "--set", "auditWebhook.url="+srv.URL+"/v1/audit",
		"--set", "auditWebhook.tokenFile="+tokenFile, "--set", "auditWebhook.caFile="+caFile)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	audit := as[corev1.ConfigMap](t, objs.get(t, "ConfigMap", "quell-audit"))

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := testenv.Start(ctx, filepath.Join(dir, "cluster"), devcluster.Options{
		AuditPolicyFile:    write("audit-policy.yaml", []byte(audit.Data["audit-policy.yaml"])),
		AuditWebhookConfig: write("audit-webhook.yaml", []byte(audit.Data["audit-webhook.yaml"])),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "audited"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-events:
			if e.Verb == "create" && e.ObjectRef != nil && e.ObjectRef.Resource == "pods" && e.ObjectRef.Name == "audited" &&
				e.Stage == "ResponseComplete" {
				if e.Level != "RequestResponse" || e.RequestObject == nil {
					t.Errorf("pod creation audited at level %s (request object %v), want RequestResponse with the object", e.Level, e.RequestObject != nil)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no audit event for the pod's creation reached the webhook")
		}
	}
}
