package leader_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"quell.dev/quell/internal/leader"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// candidate is one Elector campaigning in its own goroutine; it records
// when it starts and stops leading.
type candidate struct {
	el      *leader.Elector
	cancel  context.CancelFunc
	done    chan struct{}
	started chan time.Time // each acquisition
	stopped chan time.Time // each lead that returned
}

func newLease(t *testing.T) (kubernetes.Interface, string, string) {
	t.Helper()
	cs, err := testenv.Cluster(t).Client()
	if err != nil {
		t.Fatal(err)
	}
	return cs, testenv.Namespace(t, cs, "leader"), "quell-leader"
}

func campaign(t *testing.T, cs kubernetes.Interface, ns, name, id string) *candidate {
	t.Helper()
	el, err := leader.New(leader.Options{Client: cs, Namespace: ns, Name: name, Identity: id, URL: "https://" + id + ".example:8443",
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 250 * time.Millisecond,
		Cluster: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{el: el, cancel: cancel, done: make(chan struct{}), started: make(chan time.Time, 8), stopped: make(chan time.Time, 8)}
	go func() {
		defer close(c.done)
		_ = el.Start(ctx, func(ctx context.Context) {
			c.started <- time.Now()
			<-ctx.Done()
			c.stopped <- time.Now()
		})
	}()
	t.Cleanup(func() { c.cancel(); <-c.done })
	return c
}

func wait(t *testing.T, ch chan time.Time, within time.Duration, what string) time.Time {
	t.Helper()
	select {
	case at := <-ch:
		return at
	case <-time.After(within):
		t.Fatalf("%s: not within %s", what, within)
		return time.Time{}
	}
}

// TestOneLeaderAndHandOver: of two candidates exactly one leads; the other
// sees it with its advertised URL; a graceful stop releases the Lease and
// the other leads at once, well before the lease duration.
func TestOneLeaderAndHandOver(t *testing.T) {
	cs, ns, name := newLease(t)
	a := campaign(t, cs, ns, name, "replica-a")
	wait(t, a.started, 10*time.Second, "replica-a leads")
	b := campaign(t, cs, ns, name, "replica-b")
	deadline := time.Now().Add(10 * time.Second)
	for {
		id, url := b.el.Leader()
		if id == "replica-a" && url == "https://replica-a.example:8443" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica-b observes leader %q at %q, want replica-a at https://replica-a.example:8443", id, url)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !a.el.Leading() || b.el.Leading() {
		t.Fatalf("leading: a=%v b=%v, want a only", a.el.Leading(), b.el.Leading())
	}
	select {
	case <-b.started:
		t.Fatal("replica-b leads while replica-a holds the lease")
	case <-time.After(4 * time.Second): // longer than the lease duration: a renews
	}

	stop := time.Now()
	a.cancel()
	<-a.done
	wait(t, a.stopped, time.Second, "replica-a's lead returns")
	took := wait(t, b.started, 3*time.Second, "replica-b takes over after the release").Sub(stop)
	t.Logf("hand-over after a graceful stop: %s", took.Round(time.Millisecond))
	if took >= 3*time.Second {
		t.Errorf("hand-over took %s, want less than the lease duration (3s): the release did not happen", took)
	}
	lease, err := cs.CoordinationV1().Leases(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := *lease.Spec.HolderIdentity; got != "replica-b https://replica-b.example:8443" {
		t.Errorf("lease holder %q, want replica-b with its URL", got)
	}
}

// TestLeadStopsWhenTheLeaseIsTaken: a leader that cannot renew (another
// holder wrote the Lease) stops leading within the renew deadline, before
// the lease duration would let the new holder act, and campaigns again.
func TestLeadStopsWhenTheLeaseIsTaken(t *testing.T) {
	cs, ns, name := newLease(t)
	a := campaign(t, cs, ns, name, "replica-a")
	wait(t, a.started, 10*time.Second, "replica-a leads")
	// An intruder takes the Lease over for a minute (retrying while
	// replica-a's renewals move its resourceVersion on).
	var taken time.Time
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := cs.CoordinationV1().Leases(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		other, d, now := "intruder", int32(60), metav1.NewMicroTime(time.Now())
		lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: &other, LeaseDurationSeconds: &d, AcquireTime: &now, RenewTime: &now}
		taken = time.Now()
		_, err = cs.CoordinationV1().Leases(ns).Update(t.Context(), lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	stopped := wait(t, a.stopped, 5*time.Second, "replica-a stops leading").Sub(taken)
	t.Logf("stopped leading %s after the lease was taken", stopped.Round(time.Millisecond))
	// Leading and the observed holder are updated as the elector learns
	// (client-go reports a new leader from a goroutine of its own).
	observed := func() string { id, _ := a.el.Leader(); return id }
	deadline := time.Now().Add(2 * time.Second)
	for (a.el.Leading() || observed() != "intruder") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a.el.Leading() {
		t.Error("replica-a still says it leads 2s after its lead ended")
	}
	if id := observed(); id != "intruder" {
		t.Errorf("observed leader %q, want intruder", id)
	}
	select {
	case <-a.started:
		t.Error("replica-a leads again while the intruder's lease holds")
	case <-time.After(time.Second):
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	_, err := leader.New(leader.Options{Identity: "a b"})
	if err == nil {
		t.Fatal("New accepted no client, lease, logger and an identity with a space")
	}
	for _, want := range []string{"no client", "no lease namespace or name", `identity "a b"`, "no logger"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
