package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/notify"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func sample() notify.Message {
	return notify.Message{Kind: notify.Opened, Incident: incident.Incident{
		ID: 42, Title: "Known Cryptominer Process Executed on workload shop/Deployment/miner", State: incident.StateOpen,
		Severity: incident.SeverityCritical, Rules: []string{"Known Cryptominer Process Executed"}, AlertCount: 2,
		Target: incident.Target{Cluster: "prod", Kind: incident.TargetWorkload, Namespace: "shop", WorkloadKind: "Deployment", Name: "miner"},
	}, URL: "https://quell.example/incidents/42"}
}

// startDispatcher runs d until the test ends.
func startDispatcher(t *testing.T, d *notify.Dispatcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Start(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestSlackAndWebhookWithRetry(t *testing.T) {
	var calls atomic.Int32
	slackGot := make(chan map[string]any, 1)
	slack := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		json.NewDecoder(r.Body).Decode(&v)
		slackGot <- v
	}))
	defer slack.Close()
	hookGot := make(chan notify.Message, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 { // fail twice, then accept
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var m notify.Message
		json.NewDecoder(r.Body).Decode(&m)
		hookGot <- m
	}))
	defer hook.Close()
	d := notify.NewDispatcher(notify.Options{Backoff: 10 * time.Millisecond},
		&notify.Slack{URL: slack.URL}, &notify.Webhook{URL: hook.URL})
	startDispatcher(t, d)
	d.Enqueue(sample())

	select {
	case v := <-slackGot:
		blocks, _ := v["blocks"].([]any)
		text, _ := v["text"].(string)
		if len(blocks) < 2 || !strings.Contains(text, "#42") || !strings.Contains(text, "Known Cryptominer") {
			t.Errorf("slack payload = %v", v)
		}
		raw, _ := json.Marshal(v)
		for _, want := range []string{"critical", "shop/miner", "Open in quell"} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("slack payload lacks %q: %s", want, raw)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no slack message")
	}
	select {
	case m := <-hookGot:
		if m.Incident.ID != 42 || m.Kind != notify.Opened {
			t.Errorf("webhook got %+v", m)
		}
		if calls.Load() != 3 {
			t.Errorf("webhook called %d times, want 3 (two retries)", calls.Load())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("webhook never succeeded")
	}
}

func TestHungReceiverDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hung.Close()
	defer close(release)
	got := make(chan struct{}, 100)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got <- struct{}{}
	}))
	defer ok.Close()
	d := notify.NewDispatcher(notify.Options{QueueLen: 4, Attempts: 1}, &notify.Webhook{URL: hung.URL}, &notify.Webhook{URL: ok.URL})
	startDispatcher(t, d)
	start := time.Now()
	for range 50 {
		d.Enqueue(sample()) // the hung receiver's queue fills and drops; Enqueue never waits
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Enqueue blocked for %s", took)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the healthy receiver got nothing while the other hung")
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "gone", http.StatusGone)
	}))
	defer srv.Close()
	err := (&notify.Webhook{URL: srv.URL}).Notify(t.Context(), sample())
	var perm *notify.Permanent
	if !errors.As(err, &perm) {
		t.Fatalf("410 gave %v, want a permanent error", err)
	}
}

func TestKubeEventOnWorkload(t *testing.T) {
	c := testenv.Cluster(t)
	cs, err := kubernetes.NewForConfig(c.RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := (&notify.KubeEvent{Client: cs}).Notify(t.Context(), sample()); err != nil {
		t.Fatal(err)
	}
	evs, err := cs.CoreV1().Events("shop").List(t.Context(), metav1.ListOptions{LabelSelector: "quell.dev/incident=42"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 1 {
		t.Fatalf("%d events, want 1", len(evs.Items))
	}
	ev := evs.Items[0]
	if ev.InvolvedObject.Kind != "Deployment" || ev.InvolvedObject.Name != "miner" || ev.Reason != "QuellIncidentOpened" ||
		ev.Type != corev1.EventTypeWarning || !strings.Contains(ev.Message, "incident 42") {
		t.Errorf("event = %+v", ev)
	}
}
