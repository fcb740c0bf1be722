// Package kubemeta tells the sensor which pod a container belongs to.
//
// A [PodCache] watches the pods bound to one node (a spec.nodeName field
// selector, so the API server sends nothing about other nodes) and indexes
// them by the container IDs in their status, as the kubelet reports them
// (containerd://<id>, cri-o://<id>, docker://<id>). It is safe for
// concurrent use.
package kubemeta

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Pod is what the sensor attaches to an event about one container.
type Pod struct {
	Namespace, Name, UID string
	Labels               map[string]string
	// Container is the container's name in the pod spec; Image its image
	// reference and ImageID the resolved image (often a digest); Runtime
	// the prefix of the container ID (containerd, cri-o, docker).
	Container, Image, ImageID, Runtime string
	// IP is the pod IP; HostNetwork reports spec.hostNetwork.
	IP          string
	HostNetwork bool
}

const byContainerID = "containerID"

// PodCache indexes the node's pods by container ID.
type PodCache struct {
	informer cache.SharedIndexInformer
	changed  chan struct{}
	synced   atomic.Bool
}

// Rules are the only RBAC rules a PodCache needs: list and watch of pods
// (the informer's list-watch; it never reads a pod by name).
func Rules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}}}
}

// NewPodCache returns a cache of the pods on node. Start runs it.
func NewPodCache(cs kubernetes.Interface, node string) *PodCache {
	lw := cache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", metav1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", node))
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{byContainerID: containerIDs})
	// Keep only what Lookup needs: no managed fields or annotations.
	_ = inf.SetTransform(func(obj any) (any, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			p.ManagedFields = nil
			p.Annotations = nil
		}
		return obj, nil
	})
	return &PodCache{informer: inf, changed: make(chan struct{}, 1)}
}

// Changed receives a value (coalesced) after pods were added or changed,
// so a caller waiting for a container's pod can look again.
func (c *PodCache) Changed() <-chan struct{} { return c.changed }

// Synced reports whether the initial list has been loaded.
func (c *PodCache) Synced() bool { return c.synced.Load() }

// Start runs the watch until ctx is done.
func (c *PodCache) Start(ctx context.Context) error {
	notify := func() {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
	_, err := c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
	})
	if err != nil {
		return fmt.Errorf("pod cache handler: %w", err)
	}
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), c.informer.HasSynced) {
			c.synced.Store(true)
			notify()
		}
	}()
	c.informer.RunWithContext(ctx)
	return nil
}

// Lookup returns the pod running the container with the given full ID.
func (c *PodCache) Lookup(id string) (Pod, bool) {
	objs, err := c.informer.GetIndexer().ByIndex(byContainerID, id)
	if err != nil || len(objs) == 0 {
		return Pod{}, false
	}
	p := objs[0].(*corev1.Pod)
	out := Pod{
		Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Labels: p.Labels,
		IP: p.Status.PodIP, HostNetwork: p.Spec.HostNetwork,
	}
	for _, st := range allStatuses(p) {
		rt, cid := splitContainerID(st.ContainerID)
		if cid == id {
			out.Container, out.Image, out.ImageID, out.Runtime = st.Name, st.Image, st.ImageID, rt
			break
		}
	}
	return out, true
}

func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	var all []corev1.ContainerStatus
	all = append(all, p.Status.InitContainerStatuses...)
	all = append(all, p.Status.ContainerStatuses...)
	for _, e := range p.Status.EphemeralContainerStatuses {
		all = append(all, e)
	}
	return all
}

// containerIDs is the index function: the pod's container IDs without
// their runtime prefix.
func containerIDs(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var ids []string
	for _, st := range allStatuses(p) {
		if _, id := splitContainerID(st.ContainerID); id != "" {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// splitContainerID splits "containerd://<id>" into runtime and ID.
func splitContainerID(s string) (runtime, id string) {
	rt, id, ok := strings.Cut(s, "://")
	if !ok {
		return "", s
	}
	return rt, id
}

// SplitImage splits an image reference into repository, tag and digest:
// "registry/app:1.2@sha256:..." gives "registry/app", "1.2", "sha256:...".
func SplitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}
