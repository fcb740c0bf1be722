// Package kubecache keeps watched, in-memory copies of the cluster objects
// quell reads on its hot paths (owner chains, protection labels, the
// investigation report), so that those reads cost no round trip.
//
// A Cache watches the kinds it was built for, cluster-wide, from one
// shared informer factory. Get and List answer only for a kind whose
// initial list has completed; before that, and for kinds it does not
// watch, they miss, and callers read the API server instead. A cached
// object may lag the API server by the watch's delay (milliseconds), so
// quell never writes from a cached object without a precondition (UID or
// resourceVersion) taken from a live read. Returned objects are shared:
// callers must not modify them. A Cache is safe for concurrent use.
package kubecache

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Workloads are the kinds an owner chain and its protection check read.
var Workloads = []string{"Pod", "ReplicaSet", "Job", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "ReplicationController"}

// kinds are the kinds a Cache can watch: each one's API group, resource
// and shared informer.
var kinds = map[string]struct {
	group, resource string
	informer        func(informers.SharedInformerFactory) cache.SharedIndexInformer
}{
	"Pod": {"", "pods", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Pods().Informer()
	}},
	"ReplicaSet": {"apps", "replicasets", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().ReplicaSets().Informer()
	}},
	"Job": {"batch", "jobs", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Batch().V1().Jobs().Informer()
	}},
	"Deployment": {"apps", "deployments", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().Deployments().Informer()
	}},
	"StatefulSet": {"apps", "statefulsets", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().StatefulSets().Informer()
	}},
	"DaemonSet": {"apps", "daemonsets", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().DaemonSets().Informer()
	}},
	"CronJob": {"batch", "cronjobs", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Batch().V1().CronJobs().Informer()
	}},
	"ReplicationController": {"", "replicationcontrollers", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().ReplicationControllers().Informer()
	}},
	"Service": {"", "services", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Services().Informer()
	}},
	"ServiceAccount": {"", "serviceaccounts", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().ServiceAccounts().Informer()
	}},
	"Namespace": {"", "namespaces", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Namespaces().Informer()
	}},
	"PersistentVolumeClaim": {"", "persistentvolumeclaims", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().PersistentVolumeClaims().Informer()
	}},
	"Ingress": {"networking.k8s.io", "ingresses", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().Ingresses().Informer()
	}},
	"NetworkPolicy": {"networking.k8s.io", "networkpolicies", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().NetworkPolicies().Informer()
	}},
	"EndpointSlice": {"discovery.k8s.io", "endpointslices", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Discovery().V1().EndpointSlices().Informer()
	}},
	"Role": {"rbac.authorization.k8s.io", "roles", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().Roles().Informer()
	}},
	"RoleBinding": {"rbac.authorization.k8s.io", "rolebindings", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().RoleBindings().Informer()
	}},
	"ClusterRole": {"rbac.authorization.k8s.io", "clusterroles", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().ClusterRoles().Informer()
	}},
	"ClusterRoleBinding": {"rbac.authorization.k8s.io", "clusterrolebindings", func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().ClusterRoleBindings().Informer()
	}},
}

// Resource returns the API group and resource of a kind a Cache can
// watch (as audit events and RBAC rules name them).
func Resource(kind string) (group, resource string, ok bool) {
	info, ok := kinds[kind]
	return info.group, info.resource, ok
}

// Rules are the RBAC rules a Cache of kinds needs: list and watch.
func Rules(ks ...string) []rbacv1.PolicyRule {
	var rules []rbacv1.PolicyRule
	for _, k := range ks {
		if info, ok := kinds[k]; ok {
			rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{info.group}, Resources: []string{info.resource}, Verbs: []string{"list", "watch"}})
		}
	}
	return rules
}

// Kinds lists every kind a Cache can watch, sorted.
func Kinds() []string {
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Cache is a set of watched kinds.
type Cache struct {
	factory   informers.SharedInformerFactory
	informers map[string]cache.SharedIndexInformer
}

// New returns a Cache of kinds (see Kinds) over cs; Start runs it.
func New(cs kubernetes.Interface, ks ...string) (*Cache, error) {
	c := &Cache{factory: informers.NewSharedInformerFactory(cs, 0), informers: map[string]cache.SharedIndexInformer{}}
	var unknown []string
	for _, k := range ks {
		info, ok := kinds[k]
		if !ok {
			unknown = append(unknown, k)
			continue
		}
		inf := info.informer(c.factory)
		if err := inf.SetTransform(trim); err != nil {
			return nil, fmt.Errorf("cache %s: %w", k, err)
		}
		c.informers[k] = inf
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("cache: kinds %s cannot be watched (known: %s)", strings.Join(unknown, ", "), strings.Join(Kinds(), ", "))
	}
	return c, nil
}

// trim drops what no reader needs and costs memory: managed fields and
// kubectl's copy of the last applied manifest.
func trim(obj any) (any, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
		delete(o.GetAnnotations(), "kubectl.kubernetes.io/last-applied-configuration") // a freshly decoded object: ours to change
	}
	return obj, nil
}

// Start runs the watches until ctx is done, then waits for them to stop.
func (c *Cache) Start(ctx context.Context) error {
	c.factory.Start(ctx.Done())
	<-ctx.Done()
	c.factory.Shutdown()
	return nil
}

// WaitSynced waits until every watched kind has completed its initial
// list, or ctx is done.
func (c *Cache) WaitSynced(ctx context.Context) error {
	var synced []cache.InformerSynced
	for _, inf := range c.informers {
		synced = append(synced, inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("wait for cluster cache: %w", context.Cause(ctx))
	}
	return nil
}

// Synced reports whether kind is watched and its initial list complete.
func (c *Cache) Synced(kind string) bool {
	inf, ok := c.informers[kind]
	return ok && inf.HasSynced()
}

// Get returns the cached object of kind named ns/name (ns empty for
// cluster-scoped kinds). ok is false when it is not cached, or the kind is
// not watched or not yet listed.
func (c *Cache) Get(kind, ns, name string) (obj metav1.Object, ok bool) {
	if c == nil || !c.Synced(kind) {
		return nil, false
	}
	key := name
	if ns != "" {
		key = ns + "/" + name
	}
	item, exists, err := c.informers[kind].GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return nil, false
	}
	o, ok := item.(metav1.Object)
	return o, ok
}

// List returns the cached objects of kind in namespace ns (every
// namespace when ns is empty), sorted by namespace and name; ok is false
// when the kind is not watched or not yet listed.
func (c *Cache) List(kind, ns string) (objs []metav1.Object, ok bool) {
	if c == nil || !c.Synced(kind) {
		return nil, false
	}
	idx := c.informers[kind].GetIndexer()
	var items []any
	if ns == "" {
		items = idx.List()
	} else {
		var err error
		if items, err = idx.ByIndex(cache.NamespaceIndex, ns); err != nil {
			return nil, false
		}
	}
	for _, it := range items {
		if o, ok := it.(metav1.Object); ok {
			objs = append(objs, o)
		}
	}
	slices.SortFunc(objs, func(a, b metav1.Object) int {
		return strings.Compare(a.GetNamespace()+"/"+a.GetName(), b.GetNamespace()+"/"+b.GetName())
	})
	return objs, true
}
