package respond_test

import (
	"errors"
	"strings"
	"testing"
	"time"

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
}
