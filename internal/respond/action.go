package respond

import (
	"context"
	"fmt"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Action is one kind of cluster write a response can make.
type Action interface {
	// Name is the action's registry key, e.g. "suspend-workload".
	Name() string
	// Rules are the RBAC rules Apply and Verify need for t, and no more.
	Rules(t Target) []rbacv1.PolicyRule
	// Apply acts on t and records what it did. An error means the action
	// did not take full effect; the Record then holds what is known.
	Apply(ctx context.Context, env Env, t Target) (Record, error)
}

// Staged is implemented by an action that reads only and whose record
// can be completed while the actions after it run (capture-evidence).
type Staged interface {
	// Capture returns once what the actions after it need is read (the
	// Record's Objects); complete waits for the rest and returns the
	// whole Record. On an error complete is nil.
	Capture(ctx context.Context, env Env, t Target) (rec Record, complete func() Record, err error)
}

// Restorer is implemented by reversible actions.
type Restorer interface {
	// Restore reverts rec (a Record Apply returned, or one naming only the
	// action and target, in which case the object's restore annotation is
	// used). Restoring what is already restored succeeds with Changed=false.
	Restore(ctx context.Context, env Env, rec Record) (Record, error)
}

// Registry maps action names to actions.
type Registry struct {
	byName map[string]Action
}

// NewRegistry returns a registry holding actions; it panics on a duplicate
// name, like Register.
func NewRegistry(actions ...Action) *Registry {
	r := &Registry{byName: make(map[string]Action, len(actions))}
	for _, a := range actions {
		r.Register(a)
	}
	return r
}

// Register adds a; it panics when an action with the same name is
// registered, since that is a programming error.
func (r *Registry) Register(a Action) {
	if _, dup := r.byName[a.Name()]; dup {
		panic(fmt.Sprintf("respond: action already registered: %s", a.Name()))
	}
	r.byName[a.Name()] = a
}

// Get returns the action named name.
func (r *Registry) Get(name string) (Action, bool) {
	a, ok := r.byName[name]
	return a, ok
}

// Names lists the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DefaultRegistry returns a new registry of every action with its default
// options.
func DefaultRegistry() *Registry {
	return NewRegistry(
		&Terminate{},
		&Suspend{DeletePods: true},
		&Isolate{AllowDNS: true},
		&Label{},
		&Annotate{},
		&Cordon{Taint: true},
		&Evidence{},
	)
}

// Action names.
const (
	ActionTerminate = "terminate-pod"
	ActionSuspend   = "suspend-workload"
	ActionIsolate   = "isolate-pod"
	ActionLabel     = "label"
	ActionAnnotate  = "annotate"
	ActionCordon    = "cordon-node"
	ActionEvidence  = "capture-evidence"
)

var (
	_ Action   = (*Terminate)(nil)
	_ Action   = (*Suspend)(nil)
	_ Restorer = (*Suspend)(nil)
	_ Action   = (*Isolate)(nil)
	_ Restorer = (*Isolate)(nil)
	_ Action   = (*Label)(nil)
	_ Restorer = (*Label)(nil)
	_ Action   = (*Annotate)(nil)
	_ Restorer = (*Annotate)(nil)
	_ Action   = (*Cordon)(nil)
	_ Restorer = (*Cordon)(nil)
	_ Action   = (*Evidence)(nil)
)
