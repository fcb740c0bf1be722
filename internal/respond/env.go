package respond

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/owner"
)

// Labels and annotations quell writes.
const (
	// LabelIncident marks every object quell creates or changes.
	LabelIncident = "quell.dev/incident"
	// LabelLifetime on a created object says when it may go: absent or
	// "temporary" means at Cleanup, LifetimeUntilRestore at Restore.
	LabelLifetime        = "quell.dev/lifetime"
	LifetimeTemporary    = "temporary"
	LifetimeUntilRestore = "until-restore"
	// LabelQuarantine selects pods isolate-pod quarantines.
	LabelQuarantine = "quell.dev/quarantine"
	// NodeSelectorSuspended is the unsatisfiable node selector key that
	// suspends a DaemonSet.
	NodeSelectorSuspended = "quell.dev/suspended"
	// TaintQuarantine is the taint key cordon-node adds.
	TaintQuarantine = "quell.dev/quarantine"
	// AnnotationRestore holds suspend-workload's restore state (JSON).
	AnnotationRestore = "quell.dev/restore"
)

// restoreAnnotation is the annotation holding action's restore state.
func restoreAnnotation(action string) string {
	if action == ActionSuspend {
		return AnnotationRestore
	}
	return AnnotationRestore + "-" + action
}

// ErrNotSuspendable is returned (wrapped) by suspend-workload for a bare
// pod or a pod whose controller is of a kind quell does not handle: the
// caller terminates the pod instead.
var ErrNotSuspendable = errors.New("workload cannot be suspended")

// Env is what an action acts with. The zero values of the options mean
// their defaults.
type Env struct {
	Client kubernetes.Interface
	// DryRun sends every write with server-side dryRun=All.
	DryRun bool
	// FieldManager names quell in managedFields; default "quell".
	FieldManager string
	// Incident is the incident id written as quell.dev/incident.
	Incident int64
	// Log receives a record of each write (debug) and action (info); nil
	// discards.
	Log *slog.Logger
	// GracePeriod for pod deletions: nil uses the pod's own, 0 forces.
	GracePeriod *int64
	// VerifyHold is how long Verify requires the contained state to hold;
	// nil means 1s.
	VerifyHold *time.Duration
	// VerifyTimeout bounds Verify; 0 means 30s.
	VerifyTimeout time.Duration
}

func (e Env) fieldManager() string {
	if e.FieldManager == "" {
		return "quell"
	}
	return e.FieldManager
}

func (e Env) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

func (e Env) dryRun() []string {
	if e.DryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func (e Env) patchOpts() metav1.PatchOptions {
	return metav1.PatchOptions{FieldManager: e.fieldManager(), DryRun: e.dryRun()}
}

func (e Env) updateOpts() metav1.UpdateOptions {
	return metav1.UpdateOptions{FieldManager: e.fieldManager(), DryRun: e.dryRun()}
}

func (e Env) createOpts() metav1.CreateOptions {
	return metav1.CreateOptions{FieldManager: e.fieldManager(), DryRun: e.dryRun()}
}

func (e Env) deleteOpts() metav1.DeleteOptions {
	return metav1.DeleteOptions{DryRun: e.dryRun(), GracePeriodSeconds: e.GracePeriod}
}

func (e Env) incidentLabel() string { return strconv.FormatInt(e.Incident, 10) }

func (e Env) verifyHold() time.Duration {
	if e.VerifyHold == nil {
		return time.Second
	}
	return *e.VerifyHold
}

func (e Env) verifyTimeout() time.Duration {
	if e.VerifyTimeout <= 0 {
		return 30 * time.Second
	}
	return e.VerifyTimeout
}

// Target is what an action acts on: a pod with its resolved owner chain,
// or a node.
type Target struct {
	Namespace string      `json:"namespace,omitempty"`
	Pod       string      `json:"pod,omitempty"`
	Node      string      `json:"node,omitempty"`
	Chain     owner.Chain `json:"chain"`
	// Read are objects of the chain, the pod included, read moments ago
	// (by capture-evidence):
	// an action may start from one instead of reading it again, since its
	// writes are preconditioned on the resourceVersion read and start over
	// from a fresh read on a conflict.
	Read []metav1.Object `json:"-"`
}

// read returns the object of t.Read that ref names, if any.
func (t Target) read(ref ObjectRef) (metav1.Object, bool) {
	for _, o := range t.Read {
		if o.GetName() == ref.Name && o.GetNamespace() == ref.Namespace && (ref.UID == "" || string(o.GetUID()) == ref.UID) &&
			KindOf(o) == ref.Kind {
			return o, true
		}
	}
	return nil, false
}

// podUID is the pod's UID from the chain, if resolved.
func (t Target) podUID() string {
	if len(t.Chain.Links) == 0 {
		return ""
	}
	return t.Chain.Pod().UID
}

// bare reports whether the target pod has no controller.
func (t Target) bare() bool { return len(t.Chain.Links) <= 1 }

// workload returns the top controller of the chain, or an error wrapping
// ErrNotSuspendable.
func (t Target) workload() (owner.Ref, error) {
	switch {
	case t.bare():
		return owner.Ref{}, fmt.Errorf("pod %s/%s has no controller: %w", t.Namespace, t.Pod, ErrNotSuspendable)
	case t.Chain.Unknown:
		top := t.Chain.Top()
		return owner.Ref{}, fmt.Errorf("pod %s/%s is controlled by %s %s of a kind quell does not handle: %w",
			t.Namespace, t.Pod, top.Kind, top.Name, ErrNotSuspendable)
	}
	return t.Chain.Top(), nil
}

// ObjectRef names one Kubernetes object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Record is what an action did, JSON-serialisable for the incident
// timeline.
type Record struct {
	Action   string    `json:"action"`
	Incident int64     `json:"incident"`
	Target   Target    `json:"target"`
	Object   ObjectRef `json:"object"` // the object acted on
	// Before and After are JSON snapshots of the state the action governs.
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
	// Restore is what Restore needs (the same JSON as the object's restore
	// annotation).
	Restore    json.RawMessage `json:"restore,omitempty"`
	Reversible bool            `json:"reversible"`
	// Changed is false when the state already was as wanted.
	Changed bool `json:"changed"`
	DryRun  bool `json:"dry_run,omitempty"`
	// GitOps names a GitOps owner of the workload (e.g. "argocd:shop"),
	// which may revert the change.
	GitOps   string          `json:"gitops,omitempty"`
	HPAs     []HPAState      `json:"hpas,omitempty"`
	Evidence []EvidenceItem  `json:"evidence,omitempty"`
	Notes    []string        `json:"notes,omitempty"`
	Started  time.Time       `json:"started"`
	Finished time.Time       `json:"finished"`
	read     []metav1.Object // objects the action read, for the next one (Target.Read)
}

// Objects returns the objects the action read (capture-evidence: the
// pod's owners), for Target.Read of the actions after it.
func (r Record) Objects() []metav1.Object { return r.read }

func newRecord(action string, env Env, t Target) Record {
	return Record{Action: action, Incident: env.Incident, Target: t, DryRun: env.DryRun, Started: time.Now()}
}

func (r *Record) finish() { r.Finished = time.Now() }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("respond: marshal %T: %v", v, err)) // only plain structs are marshalled
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

// Request is a person's request to run one action through the response
// engine (quell respond, POST /v1/responses).
type Request struct {
	Cluster   string `json:"cluster,omitempty"` // a name of kubernetes.clusters; empty: the default cluster
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Node      string `json:"node,omitempty"` // for node actions
	Action    string `json:"action"`
	DryRun    bool   `json:"dry_run,omitempty"`
	Reason    string `json:"reason,omitempty"`
}
