package investigate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/kubecache"
	"quell.dev/quell/internal/owner"
)

// Kinds are the kinds an Investigator reads from its cache.
var Kinds = append(slices.Clone(kubecache.Workloads),
	"Service", "ServiceAccount", "Namespace", "PersistentVolumeClaim", "Ingress", "NetworkPolicy", "EndpointSlice",
	"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")

// Rules are the only RBAC rules an investigation needs: list and watch
// of Kinds, and get of what the owner chain reads when the cache does not
// hold it yet (pods, ReplicaSets, Jobs).
func Rules() []rbacv1.PolicyRule {
	return append(kubecache.Rules(Kinds...),
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get"}},
		rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}})
}

// Objects is the cache an Investigator reads; see kubecache.Cache.
type Objects interface {
	owner.Reader
	List(kind, ns string) ([]metav1.Object, bool)
	Synced(kind string) bool
}

var _ Objects = (*kubecache.Cache)(nil)

// ErrNotReady is returned while the cache has not listed every kind once.
var ErrNotReady = errors.New("the cluster cache is still loading")

// Options configure an Investigator.
type Options struct {
	// Objects must watch Kinds.
	Objects Objects
	// Client reads a pod the cache does not hold yet.
	Client kubernetes.Interface
	// Resolver resolves owner chains (one over Client and Objects when nil).
	Resolver *owner.Resolver
	// Audit, when not nil, answers who created and changed objects.
	Audit *AuditIndex
}

// Investigator builds reports.
type Investigator struct {
	objs  Objects
	cs    kubernetes.Interface
	res   *owner.Resolver
	audit *AuditIndex
	pss   podSecurity
}

// New returns an Investigator.
func New(opts Options) (*Investigator, error) {
	if opts.Objects == nil || opts.Client == nil {
		return nil, errors.New("investigator: Objects and Client are required")
	}
	pss, err := newPodSecurity()
	if err != nil {
		return nil, err
	}
	if opts.Resolver == nil {
		opts.Resolver = owner.NewResolver(opts.Client, opts.Objects)
	}
	return &Investigator{objs: opts.Objects, cs: opts.Client, res: opts.Resolver, audit: opts.Audit, pss: pss}, nil
}

// Pod investigates pod ns/name; the suggested response is left to the
// caller, who knows the alert (see playbook.Suggest). A pod that does not exist fails with an
// error satisfying apierrors.IsNotFound.
func (iv *Investigator) Pod(ctx context.Context, ns, name string) (*Report, error) {
	for _, k := range Kinds {
		if !iv.objs.Synced(k) {
			return nil, fmt.Errorf("investigate pod %s/%s: %w (%s)", ns, name, ErrNotReady, k)
		}
	}
	var pod *corev1.Pod
	if o, ok := iv.objs.Get("Pod", ns, name); ok {
		pod = o.(*corev1.Pod)
	} else {
		p, err := iv.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("investigate pod %s/%s: %w", ns, name, err)
		}
		pod = p
	}
	chain, err := iv.res.Resolve(ctx, ns, name)
	if err != nil {
		return nil, fmt.Errorf("investigate pod %s/%s: owner chain: %w", ns, name, err)
	}
	r := &Report{Namespace: ns, Pod: name, UID: string(pod.UID), Node: pod.Spec.NodeName, GeneratedAt: time.Now().UTC()}
	r.Workload = iv.workloadOf(pod, chain)
	r.Origin = iv.originOf(pod, chain)
	var sa *corev1.ServiceAccount
	saName := pod.Spec.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	if o, ok := iv.objs.Get("ServiceAccount", ns, saName); ok {
		sa = o.(*corev1.ServiceAccount)
	}
	r.Config = iv.configOf(pod, sa)
	r.Access = iv.accessOf(ns, saName, iv.bindingsFor(ns))
	r.Exposure = iv.exposureOf(pod)
	r.Dependencies = iv.dependenciesOf(pod)
	r.Impact = iv.impactOf(pod, r)
	return r, nil
}

// workloadOf reports the chain and the pods that share its top.
func (iv *Investigator) workloadOf(pod *corev1.Pod, chain owner.Chain) Workload {
	top := chain.Top()
	w := Workload{Chain: chain.Links, UnknownOwner: chain.Unknown, Kind: top.Kind, Name: top.Name, Pods: []PodPlace{}}
	if o, ok := iv.objs.Get(top.Kind, chain.Namespace, top.Name); ok && top.Kind != "Pod" {
		w.Replicas = desiredReplicas(o)
	}
	pods := []*corev1.Pod{pod}
	if !chain.Bare() {
		pods = pods[:0]
		all, _ := iv.objs.List("Pod", pod.Namespace)
		for _, o := range all {
			p := o.(*corev1.Pod)
			if p.UID == pod.UID || iv.topUID(p) == top.UID {
				pods = append(pods, p)
			}
		}
		if !slices.ContainsFunc(pods, func(p *corev1.Pod) bool { return p.UID == pod.UID }) {
			pods = append(pods, pod) // read live: not cached yet
		}
	}
	for _, p := range pods {
		w.Pods = append(w.Pods, PodPlace{Name: p.Name, Node: p.Spec.NodeName, Phase: string(p.Status.Phase)})
		if n := p.Spec.NodeName; n != "" && !slices.Contains(w.Nodes, n) {
			w.Nodes = append(w.Nodes, n)
		}
	}
	slices.SortFunc(w.Pods, func(a, b PodPlace) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(w.Nodes)
	return w
}

// topUID is the UID of the outermost controller of p that the cache
// knows, following ReplicaSets and Jobs up.
func (iv *Investigator) topUID(p *corev1.Pod) string {
	refs := p.OwnerReferences
	uid := ""
	for depth := 0; depth < 5; depth++ {
		c := metav1.GetControllerOfNoCopy(&metav1.ObjectMeta{OwnerReferences: refs})
		if c == nil {
			break
		}
		uid = string(c.UID)
		if c.Kind != "ReplicaSet" && c.Kind != "Job" {
			break
		}
		o, ok := iv.objs.Get(c.Kind, p.Namespace, c.Name)
		if !ok || o.GetUID() != c.UID {
			break
		}
		refs = o.GetOwnerReferences()
	}
	return uid
}

func (iv *Investigator) originOf(pod *corev1.Pod, chain owner.Chain) Origin {
	o := Origin{Pod: iv.objectOrigin("Pod", pod.Namespace, pod.Name, string(pod.UID))}
	if !chain.Bare() {
		top := chain.Top()
		w := iv.objectOrigin(top.Kind, chain.Namespace, top.Name, top.UID)
		o.Workload = &w
	}
	return o
}

func (iv *Investigator) objectOrigin(kind, ns, name, uid string) ObjectOrigin {
	oo := ObjectOrigin{Object: kind + " " + ns + "/" + name}
	group, resource, known := kubecache.Resource(kind)
	switch {
	case iv.audit == nil:
		oo.Unknown = "unknown: quell receives no audit events (the API server's audit webhook is not configured for it)"
	case !known:
		oo.Unknown = "unknown: quell does not follow the origin of " + kind + " objects"
	default:
		created, changed, ok := iv.audit.Origin(group, resource, ns, name, uid)
		if !ok {
			oo.Unknown = "unknown: no audit event recorded for it (created before quell received audit events, or by a request the audit policy omits)"
		}
		oo.Created, oo.LastChanged = created, changed
		if ok && created == nil {
			oo.Unknown = "creation unknown: only later changes were audited"
		}
	}
	return oo
}

// desiredReplicas is spec.replicas of a scalable workload (nil for
// others).
func desiredReplicas(o metav1.Object) *int32 {
	switch w := o.(type) {
	case *appsv1.Deployment:
		return w.Spec.Replicas
	case *appsv1.StatefulSet:
		return w.Spec.Replicas
	case *appsv1.ReplicaSet:
		return w.Spec.Replicas
	case *corev1.ReplicationController:
		return w.Spec.Replicas
	}
	return nil
}
