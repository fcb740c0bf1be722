package respond_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/respond"
)

func TestVerifySuspendFails(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 2)
	running := waitPods(t, cs, ns, "app=web", 2)
	tgt := target(t, cs, ns, running[0].Name)

	t.Run("timeout", func(t *testing.T) {
		// A record claiming a suspension that never happened.
		env := envFor(cs, nextIncident())
		env.VerifyTimeout = 500 * time.Millisecond
		rec := respond.Record{Action: respond.ActionSuspend, Object: respond.ObjectRef{Kind: "Deployment", Namespace: ns, Name: "web"}}
		err := respond.Verify(t.Context(), env, tgt, rec)
		if !errors.Is(err, respond.ErrNotContained) || !strings.Contains(err.Error(), "2 pod(s) of Deployment/"+ns+"/web remain") {
			t.Errorf("err = %v, want ErrNotContained naming the 2 pods left", err)
		}
	})

	t.Run("pod-appears-during-hold", func(t *testing.T) {
		env := envFor(cs, nextIncident())
		env.VerifyHold = ptr.To(3 * time.Second)
		rec, err := (&respond.Suspend{}).Apply(t.Context(), env, tgt)
		if err != nil {
			t.Fatal(err)
		}
		waitPods(t, cs, ns, "app=web", 0)
		go func() {
			time.Sleep(500 * time.Millisecond)
			// Someone (a GitOps sync, an operator) starts a pod of the workload.
			_, _ = cs.CoreV1().Pods(ns).Create(t.Context(), mkPodSpec("intruder", "web"), createOpts)
		}()
		err = respond.Verify(t.Context(), env, tgt, rec)
		if !errors.Is(err, respond.ErrNotContained) || !strings.Contains(err.Error(), "pod intruder") {
			t.Errorf("err = %v, want ErrNotContained naming pod intruder", err)
		}
	})

	t.Run("scaled-up-during-hold", func(t *testing.T) {
		mkDeployment(t, cs, ns, "api", 1)
		pods := waitPods(t, cs, ns, "app=api", 1)
		tgt := target(t, cs, ns, pods[0].Name)
		env := envFor(cs, nextIncident())
		env.VerifyHold = ptr.To(3 * time.Second)
		rec, err := (&respond.Suspend{}).Apply(t.Context(), env, tgt)
		if err != nil {
			t.Fatal(err)
		}
		waitPods(t, cs, ns, "app=api", 0)
		go func() {
			time.Sleep(500 * time.Millisecond)
			// A GitOps sync scales it back up.
			_, _ = cs.AppsV1().Deployments(ns).Patch(t.Context(), "api", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{})
		}()
		err = respond.Verify(t.Context(), env, tgt, rec)
		if !errors.Is(err, respond.ErrNotContained) || !strings.Contains(err.Error(), "at 2 replicas again") {
			t.Errorf("err = %v, want ErrNotContained: back at 2 replicas", err)
		}
	})
}

// TestVerifySuspendToleratesControllerCatchUp: a pod its ReplicaSet makes
// while the Deployment stays at 0 (the controllers catching up with the
// scale) and removes again does not fail the verification; the hold
// starts over once it is gone.
func TestVerifySuspendToleratesControllerCatchUp(t *testing.T) {
	cs := admin(t)
	ns := namespace(t, cs)
	mkDeployment(t, cs, ns, "web", 1)
	running := waitPods(t, cs, ns, "app=web", 1)
	tgt := target(t, cs, ns, running[0].Name)
	rs := metav1.GetControllerOf(&running[0])
	env := envFor(cs, nextIncident())
	env.VerifyHold = ptr.To(time.Second)
	rec, err := (&respond.Suspend{}).Apply(t.Context(), env, tgt)
	if err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, ns, "app=web", 0)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- respond.Verify(t.Context(), env, tgt, rec) }()
	time.Sleep(300 * time.Millisecond)
	p := mkPodSpec("catch-up", "web")
	p.OwnerReferences = []metav1.OwnerReference{*rs}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, createOpts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := cs.CoreV1().Pods(ns).Delete(t.Context(), "catch-up", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("verify: %v", err)
	}
	if took := time.Since(start); took < 1600*time.Millisecond {
		t.Errorf("verified after %s: the hold did not start over after the pod went", took)
	}
}
