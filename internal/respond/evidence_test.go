package respond_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"quell.dev/quell/internal/respond"
)

func TestEvidence(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	id := nextIncident()
	node := "evidence-" + itoa32(id)
	mkNode(t, cs, node, nil)
	mkDeployment(t, cs, ns, "web", 1)
	webPod := waitPods(t, cs, ns, "app=web", 1)[0]
	// A scheduled pod (bound to the node) with an init container.
	scheduled := mkPod(t, cs, ns, "scheduled", func(p *corev1.Pod) {
		p.Spec.NodeName = node
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
	})
	must(cs.CoreV1().Events(ns).Create(t.Context(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "scheduled.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: scheduled.Name, UID: scheduled.UID},
		Reason:         "Suspicious", Message: "crypto miner started", Type: corev1.EventTypeWarning,
	}, metav1.CreateOptions{}))

	tests := []struct {
		name      string
		pod       string
		wantNames []string // items expected, data or error
		wantErrs  []string // items expected to carry an error
	}{
		{"workload-pod", webPod.Name,
			[]string{"pod/" + webPod.Name + ".json", "ReplicaSet/", "Deployment/web.json", "logs/c", "logs/c.previous", "events.json"},
			[]string{"logs/c", "logs/c.previous"}},
		{"scheduled-pod", "scheduled",
			[]string{"pod/scheduled.json", "logs/init", "logs/init.previous", "logs/c", "logs/c.previous", "events.json", "node/" + node + ".json"},
			[]string{"logs/init", "logs/c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tgt := target(t, cs, ns, tt.pod)
			rec, err := (&respond.Evidence{}).Apply(t.Context(), envFor(cs, id), tgt)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Changed || rec.Reversible {
				t.Errorf("changed=%v reversible=%v, want false, false", rec.Changed, rec.Reversible)
			}
			byName := map[string]respond.EvidenceItem{}
			for _, it := range rec.Evidence {
				byName[it.Name] = it
				if it.Error != "" {
					continue
				}
				sum := sha256.Sum256(it.Data)
				if hex.EncodeToString(sum[:]) != it.SHA256 || it.Size != len(it.Data) {
					t.Errorf("%s: digest %s size %d do not match its %d bytes", it.Name, it.SHA256, it.Size, len(it.Data))
				}
			}
			for _, want := range tt.wantNames {
				found := false
				for name := range byName {
					found = found || name == want || (strings.HasSuffix(want, "/") && strings.HasPrefix(name, want))
				}
				if !found {
					t.Errorf("no evidence item %s; have %v", want, names(rec.Evidence))
				}
			}
			for _, name := range tt.wantErrs {
				if byName[name].Error == "" {
					t.Errorf("%s: want a recorded error (no kubelet here), got %d bytes", name, byName[name].Size)
				}
			}
			if tt.pod == "scheduled" {
				var events []corev1.Event
				if err := json.Unmarshal(byName["events.json"].Data, &events); err != nil || len(events) != 1 || events[0].Reason != "Suspicious" {
					t.Errorf("events.json: %d events, err %v", len(events), err)
				}
			}
			// The record, evidence included, survives a JSON round trip.
			var back respond.Record
			if err := json.Unmarshal(must(json.Marshal(rec)), &back); err != nil || len(back.Evidence) != len(rec.Evidence) {
				t.Errorf("record round trip: %v", err)
			}
		})
	}

	t.Run("bounded", func(t *testing.T) {
		rec := must((&respond.Evidence{MaxTotalBytes: 1000}).Apply(t.Context(), envFor(cs, id), target(t, cs, ns, "scheduled")))
		total, truncated := 0, 0
		for _, it := range rec.Evidence {
			total += it.Size
			if it.Truncated {
				truncated++
			}
			sum := sha256.Sum256(it.Data)
			if it.Error == "" && hex.EncodeToString(sum[:]) != it.SHA256 {
				t.Errorf("%s: digest of truncated data wrong", it.Name)
			}
		}
		if total > 1000 || truncated == 0 {
			t.Errorf("total %d bytes, %d truncated; want <= 1000 and some truncated", total, truncated)
		}
	})
}

// TestEvidenceCaptureStages: Capture returns with the objects read and no
// items; complete lists the events then (one created in between is in
// them) and returns every item.
func TestEvidenceCaptureStages(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 1)
	pod := waitPods(t, cs, ns, "app=web", 1)[0]
	rec, complete, err := (&respond.Evidence{}).Capture(t.Context(), envFor(cs, nextIncident()), target(t, cs, ns, pod.Name))
	if err != nil {
		t.Fatal(err)
	}
	var read []string
	for _, o := range rec.Objects() {
		read = append(read, fmt.Sprintf("%T %s", o, o.GetName()))
	}
	if len(read) != 3 || len(rec.Evidence) != 0 || rec.Finished.IsZero() {
		t.Fatalf("after Capture: read %v, %d items, finished %v; want the ReplicaSet, the Deployment and the pod, no items, finished", read, len(rec.Evidence), rec.Finished)
	}
	must(cs.CoreV1().Events(ns).Create(t.Context(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.after"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: pod.Name, UID: pod.UID},
		Reason:         "Killing", Message: "stopped by the response", Type: corev1.EventTypeNormal,
	}, metav1.CreateOptions{}))
	whole := complete()
	got := names(whole.Evidence)
	want := []string{"pod/" + pod.Name + ".json", "ReplicaSet/" + pod.OwnerReferences[0].Name + ".json", "Deployment/web.json", "logs/c", "logs/c.previous", "events.json"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	for _, it := range whole.Evidence {
		if it.Name == "events.json" && !strings.Contains(string(it.Data), "stopped by the response") {
			t.Errorf("events.json lacks the event created after Capture: %s", it.Data)
		}
	}
}

func names(items []respond.EvidenceItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}
