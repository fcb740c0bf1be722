package notify_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/notify"
)

// TestKubeEventPerCluster checks that a cluster's KubeEvent takes only
// that cluster's incidents, and that the Dispatcher queues it no others.
func TestKubeEventPerCluster(t *testing.T) {
	prod, other := sample(), sample() // sample's incident is of cluster prod
	other.Incident.Target.Cluster = "edge"
	for _, tc := range []struct {
		k          notify.KubeEvent
		name       string
		prod, edge bool
	}{
		{notify.KubeEvent{}, "kube-event", true, true},
		{notify.KubeEvent{Cluster: "prod"}, "kube-event/prod", true, false},
		{notify.KubeEvent{Cluster: "edge"}, "kube-event/edge", false, true},
	} {
		if got := tc.k.Name(); got != tc.name {
			t.Errorf("Name = %q, want %q", got, tc.name)
		}
		if got := tc.k.Wants(prod); got != tc.prod {
			t.Errorf("%s wants prod's incident: %v, want %v", tc.name, got, tc.prod)
		}
		if got := tc.k.Wants(other); got != tc.edge {
			t.Errorf("%s wants edge's incident: %v, want %v", tc.name, got, tc.edge)
		}
	}

	reg := prometheus.NewRegistry()
	// QueueLen 1 and no worker: a second message queued to a receiver is
	// dropped and counted, so the count says what was queued.
	d := notify.NewDispatcher(notify.Options{QueueLen: 1, Registry: reg}, &notify.KubeEvent{Cluster: "prod"}, &notify.KubeEvent{Cluster: "edge"})
	d.Enqueue(prod)
	d.Enqueue(prod)
	d.Enqueue(other)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var series []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := mf.GetName()
			for _, l := range m.GetLabel() {
				s += " " + l.GetName() + "=" + l.GetValue()
			}
			series = append(series, s)
		}
	}
	want := "quell_notifications_total receiver=kube-event/prod result=dropped"
	if len(series) != 1 || series[0] != want {
		t.Errorf("series %q, want only %q: edge's receiver queued only edge's message", series, want)
	}
}
