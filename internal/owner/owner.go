// Package owner resolves a pod's chain of controllers (Pod → ReplicaSet →
// Deployment, Pod → Job → CronJob, StatefulSet, DaemonSet,
// ReplicationController) from the cluster's current state.
//
// Reads come from a watched cache when the Resolver has one and it holds
// the object, and from the API server otherwise (a pod created moments ago
// may not be cached yet).
//
// A controller of a kind quell does not know (a custom resource) ends the
// chain and is reported as such, never guessed past. Resolutions are cached
// per pod UID for a short time, since a pod's owners never change; a pod
// that is gone is answered from the cache when it was resolved before.
// A Resolver is safe for concurrent use.
package owner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/incident"
)

// Ref names one object of the chain.
type Ref struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	APIVersion string `json:"api_version,omitempty"`
}

// Chain is a pod and its controllers, the pod first.
type Chain struct {
	Namespace string `json:"namespace"`
	Links     []Ref  `json:"links"`
	// Unknown is set when the top controller is of a kind quell does not
	// follow: it is reported as the top, and actions must not guess.
	Unknown bool `json:"unknown,omitempty"`
	// PodLabels are the pod's labels when it was resolved.
	PodLabels map[string]string `json:"pod_labels,omitempty"`
	// PodImages are the images of the pod's containers (init containers
	// included), and ServiceAccount its service account.
	PodImages      []string `json:"pod_images,omitempty"`
	ServiceAccount string   `json:"service_account,omitempty"`
}

// Pod is the first link.
func (c Chain) Pod() Ref { return c.Links[0] }

// Top is the outermost controller, or the pod itself when it has none.
func (c Chain) Top() Ref { return c.Links[len(c.Links)-1] }

// Bare reports whether the pod has no controller.
func (c Chain) Bare() bool { return len(c.Links) == 1 }

// Reader reads watched objects; see kubecache.Cache. ok is false when
// the object is not cached.
type Reader interface {
	Get(kind, ns, name string) (obj metav1.Object, ok bool)
}

// Resolver resolves owner chains through a cache and the API server.
type Resolver struct {
	cs     kubernetes.Interface
	cached Reader // nil: every read goes to the API server
	ttl    time.Duration

	mu    sync.Mutex
	byPod map[string]cached // namespace/name -> chain
}

type cached struct {
	chain Chain
	at    time.Time
}

// NewResolver returns a Resolver reading objects from cache when it holds
// them (cache may be nil) and through cs otherwise.
func NewResolver(cs kubernetes.Interface, cache Reader) *Resolver {
	return &Resolver{cs: cs, cached: cache, ttl: 10 * time.Minute, byPod: map[string]cached{}}
}

// Object returns the object of kind ns/name from the cache, or else
// the API server; ok is false for a kind the Resolver does not read.
func (r *Resolver) Object(ctx context.Context, kind, ns, name string) (obj metav1.Object, ok bool, err error) {
	if r.cached != nil {
		if o, hit := r.cached.Get(kind, ns, name); hit {
			return o, true, nil
		}
	}
	opts := metav1.GetOptions{}
	switch kind {
	case "Pod":
		obj, err = r.cs.CoreV1().Pods(ns).Get(ctx, name, opts)
	case "ReplicaSet":
		obj, err = r.cs.AppsV1().ReplicaSets(ns).Get(ctx, name, opts)
	case "Job":
		obj, err = r.cs.BatchV1().Jobs(ns).Get(ctx, name, opts)
	case "Deployment":
		obj, err = r.cs.AppsV1().Deployments(ns).Get(ctx, name, opts)
	case "StatefulSet":
		obj, err = r.cs.AppsV1().StatefulSets(ns).Get(ctx, name, opts)
	case "DaemonSet":
		obj, err = r.cs.AppsV1().DaemonSets(ns).Get(ctx, name, opts)
	case "CronJob":
		obj, err = r.cs.BatchV1().CronJobs(ns).Get(ctx, name, opts)
	case "ReplicationController":
		obj, err = r.cs.CoreV1().ReplicationControllers(ns).Get(ctx, name, opts)
	default:
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("get %s %s/%s: %w", kind, ns, name, err)
	}
	return obj, true, nil
}

// Resolve returns the chain of pod ns/name. When the pod no longer exists
// it answers from the cache, or fails with an error satisfying
// apierrors.IsNotFound.
func (r *Resolver) Resolve(ctx context.Context, ns, name string) (Chain, error) {
	key := ns + "/" + name
	obj, _, err := r.Object(ctx, "Pod", ns, name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			r.mu.Lock()
			c, ok := r.byPod[key]
			r.mu.Unlock()
			if ok {
				return c.chain, nil
			}
		}
		return Chain{}, err
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return Chain{}, fmt.Errorf("get pod %s: read a %T", key, obj)
	}
	chain := Chain{Namespace: ns, Links: []Ref{{Kind: "Pod", Name: pod.Name, UID: string(pod.UID), APIVersion: "v1"}}, PodLabels: maps.Clone(pod.Labels),
		ServiceAccount: pod.Spec.ServiceAccountName}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		chain.PodImages = append(chain.PodImages, c.Image)
	}
	refs := pod.OwnerReferences
	for depth := 0; depth < 5; depth++ {
		ctrl := controllerOf(refs)
		if ctrl == nil {
			break
		}
		link := Ref{Kind: ctrl.Kind, Name: ctrl.Name, UID: string(ctrl.UID), APIVersion: ctrl.APIVersion}
		chain.Links = append(chain.Links, link)
		next, known, err := r.ownersOf(ctx, ns, link)
		if err != nil {
			return Chain{}, err
		}
		if !known {
			chain.Unknown = true
			break
		}
		refs = next
	}
	r.mu.Lock()
	r.byPod[key] = cached{chain: chain, at: time.Now()}
	r.evictLocked()
	r.mu.Unlock()
	return chain, nil
}

// Recent returns the chain of pod ns/name when it was resolved less than
// maxAge ago (e.g. by the server, when the alert arrived).
func (r *Resolver) Recent(ns, name string, maxAge time.Duration) (Chain, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byPod[ns+"/"+name]
	if !ok || time.Since(c.at) >= maxAge {
		return Chain{}, false
	}
	return c.chain, true
}

func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// ownersOf returns the owner references of a controller, and whether its
// kind is one quell follows.
func (r *Resolver) ownersOf(ctx context.Context, ns string, ref Ref) ([]metav1.OwnerReference, bool, error) {
	switch ref.Kind {
	case "ReplicaSet", "Job":
	case "Deployment", "StatefulSet", "DaemonSet", "CronJob", "ReplicationController":
		return nil, true, nil // tops: nothing above them is followed
	default:
		return nil, false, nil
	}
	meta, _, err := r.Object(ctx, ref.Kind, ns, ref.Name)
	if apierrors.IsNotFound(err) {
		return nil, true, nil // owner gone: the chain ends here
	}
	if err != nil {
		return nil, false, err
	}
	if ref.UID != "" && string(meta.GetUID()) != ref.UID {
		return nil, true, nil // a namesake replaced the owner: the chain ends here
	}
	return meta.GetOwnerReferences(), true, nil
}

func (r *Resolver) evictLocked() {
	if len(r.byPod) < 10000 {
		return
	}
	now := time.Now()
	for k, c := range r.byPod {
		if now.Sub(c.at) > r.ttl {
			delete(r.byPod, k)
		}
	}
}

// Target refines a pod target into its workload's target; a bare pod, an
// unknown controller or a failed lookup leaves the pod target as it is.
func (r *Resolver) Target(ctx context.Context, t incident.Target) incident.Target {
	if t.Kind != incident.TargetPod || t.Namespace == "" || t.Pod == "" {
		return t
	}
	chain, err := r.Resolve(ctx, t.Namespace, t.Pod)
	if err != nil || chain.Bare() || chain.Unknown {
		return t
	}
	top := chain.Top()
	t.Kind, t.WorkloadKind, t.Name = incident.TargetWorkload, top.Kind, top.Name
	return t
}
