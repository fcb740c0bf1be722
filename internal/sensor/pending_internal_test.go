package sensor

import (
	"os"
	"testing"
	"time"

	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor/bpf"
	"quell.dev/quell/internal/sensor/proctable"
)

type fakePods struct {
	pods    map[string]kubemeta.Pod
	changed chan struct{}
}

func (f *fakePods) Lookup(id string) (kubemeta.Pod, bool) { p, ok := f.pods[id]; return p, ok }
func (f *fakePods) Changed() <-chan struct{}              { return f.changed }

type sliceOutput struct{ alerts []*Alert }

func (o *sliceOutput) Send(a *Alert) { o.alerts = append(o.alerts, a) }

const cid = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testPipeline(t *testing.T, maxPending int) (*pipeline, *fakePods, *sliceOutput) {
	t.Helper()
	eng, diags := rules.LoadEngine(false)
	if err := diags.Err(); err != nil {
		t.Fatal(err)
	}
	pods := &fakePods{pods: map[string]kubemeta.Pod{}, changed: make(chan struct{}, 1)}
	out := &sliceOutput{}
	s, err := New(Options{Engine: eng, Output: out, Pods: pods, Hostname: "h", MaxPending: maxPending, PodWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPipeline(s)
	if err != nil {
		t.Fatal(err)
	}
	return p, pods, out
}

func ncExec(pid uint32) *Event {
	return &Event{Kind: KindExec, Time: time.Now(), ContainerID: cid,
		Proc: proctable.Proc{Pid: pid, Name: "nc", Exe: "nc", Cmdline: "nc -h", Args: "-h", ContainerID: cid}}
}

// TestPendingUntilPod: a container event waits for its pod, then alerts
// with the pod's metadata.
func TestPendingUntilPod(t *testing.T) {
	p, pods, out := testPipeline(t, 10)
	p.dispatch(ncExec(1))
	if len(out.alerts) != 0 || len(p.pending) != 1 {
		t.Fatalf("alerts %d pending %d before the pod is known", len(out.alerts), len(p.pending))
	}
	pods.pods[cid] = kubemeta.Pod{Namespace: "shop", Name: "web-1", Container: "app", Image: "reg/app:1"}
	p.retryPending(time.Now())
	if len(out.alerts) != 1 || len(p.pending) != 0 {
		t.Fatalf("alerts %d pending %d after the pod appeared", len(out.alerts), len(p.pending))
	}
	a := out.alerts[0]
	if a.Rule != "Launch Suspicious Network Tool in Container" || a.Target.Namespace != "shop" || a.Target.Pod != "web-1" ||
		a.Fields["k8s.ns.name"] != "shop" || a.Fields["container.image.repository"] != "reg/app" {
		t.Errorf("alert %+v", a)
	}
	// Known pod: evaluated at once.
	p.dispatch(ncExec(2))
	if len(out.alerts) != 2 || out.alerts[1].Target.Pod != "web-1" {
		t.Errorf("known pod: %d alerts", len(out.alerts))
	}
}

// TestPendingBoundedNeverDropped: a full wait buffer and an expired wait
// evaluate events without pod metadata; none is lost.
func TestPendingBoundedNeverDropped(t *testing.T) {
	p, _, out := testPipeline(t, 3)
	for pid := uint32(1); pid <= 5; pid++ {
		p.dispatch(ncExec(pid))
	}
	if len(p.pending) != 3 || len(out.alerts) != 2 {
		t.Fatalf("pending %d alerts %d", len(p.pending), len(out.alerts))
	}
	p.retryPending(time.Now().Add(2 * time.Minute))
	if len(p.pending) != 0 || len(out.alerts) != 5 {
		t.Fatalf("after the wait: pending %d alerts %d", len(p.pending), len(out.alerts))
	}
	for i, a := range out.alerts {
		if a.Fields["proc.pid"] != int64(i+1) || a.Target.Pod != "" {
			t.Errorf("alert %d: pid %v pod %q (order or metadata wrong)", i, a.Fields["proc.pid"], a.Target.Pod)
		}
	}
}

// BenchmarkPipelineExec measures the user-space cost of one exec event and
// its exit (process table, rule evaluation; no kernel), so events/s per
// core = 1e9 / ns/op.
func BenchmarkPipelineExec(b *testing.B) {
	eng, _ := rules.LoadEngine(false)
	s, err := New(Options{Engine: eng, Output: &sliceOutput{}, Hostname: "h"})
	if err != nil {
		b.Fatal(err)
	}
	p, err := newPipeline(s)
	if err != nil {
		b.Fatal(err)
	}
	ppid := uint32(os.Getpid())
	r := &bpf.Record{
		Header:   bpf.Header{Kind: bpf.KindExec, Ppid: ppid, Sid: ppid, LoginUID: ^uint32(0), Comm: []byte("true")},
		Filename: []byte("/usr/bin/true"), Args: []byte("true\x00--quiet"), CwdParts: []byte("main\x00work\x00"),
	}
	b.ReportAllocs()
	for i := range b.N {
		r.Pid = uint32(1<<22 + i%100000)
		p.onExec(r)
		p.table.Remove(r.Pid)
	}
}
