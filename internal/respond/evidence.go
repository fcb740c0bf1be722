package respond

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Evidence captures what an investigation needs before anything is
// destroyed ("capture-evidence"): the pod's and its owners' manifests,
// each container's current and previous logs, the events involving the
// pod and its owners, and the node when the pod is scheduled. Every item
// carries a SHA-256 digest of its stored bytes. A part that cannot be read
// (a container log without a kubelet, an owner of an unknown kind) is
// recorded as an item with an Error and does not fail the action; only a
// pod that cannot be read at all does. Nothing is written to the cluster,
// so Changed is always false.
type Evidence struct {
	// MaxLogBytes bounds each log; default 256 KiB.
	MaxLogBytes int64
	// MaxTotalBytes bounds all items together; default 4 MiB. Items past
	// the bound are truncated or omitted, and say so.
	MaxTotalBytes int64
}

// EvidenceItem is one captured piece.
type EvidenceItem struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	SHA256    string `json:"sha256,omitempty"`
	Size      int    `json:"size"`
	Data      []byte `json:"data,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Name implements Action.
func (*Evidence) Name() string { return ActionEvidence }

// Rules implements Action. The node is granted only when the target names
// it; otherwise reading it is recorded as a failed item.
func (*Evidence) Rules(t Target) []rbacv1.PolicyRule {
	rules := []rbacv1.PolicyRule{
		kindRule("Pod", "", t.Pod, "get"),
		kindRule("Pod", "log", t.Pod, "get"),
		rule("", "events", nil, "list"),
	}
	for _, l := range t.Chain.Links[min(1, len(t.Chain.Links)):] {
		if _, ok := kinds[l.Kind]; ok {
			rules = append(rules, kindRule(l.Kind, "", l.Name, "get"))
		}
	}
	if t.Node != "" {
		rules = append(rules, kindRule("Node", "", t.Node, "get"))
	}
	return rules
}

type collector struct {
	items []EvidenceItem
	left  int64
}

func (c *collector) add(name, mediaType string, data []byte) {
	it := EvidenceItem{Name: name, MediaType: mediaType}
	if int64(len(data)) > c.left {
		data, it.Truncated = data[:c.left], true
	}
	c.left -= int64(len(data))
	sum := sha256.Sum256(data)
	it.Data, it.Size, it.SHA256 = data, len(data), hex.EncodeToString(sum[:])
	c.items = append(c.items, it)
}

func (c *collector) fail(name string, err error) {
	c.items = append(c.items, EvidenceItem{Name: name, MediaType: "text/plain", Error: err.Error()})
}

// manifest adds obj as JSON without managedFields.
func (c *collector) manifest(name string, gvk schema.GroupVersionKind, obj metav1.Object) {
	obj.SetManagedFields(nil)
	if t, ok := obj.(interface{ GetObjectKind() schema.ObjectKind }); ok {
		t.GetObjectKind().SetGroupVersionKind(gvk)
	}
	b, err := json.MarshalIndent(obj, "", "  ")
	if err != nil {
		c.fail(name, err)
		return
	}
	c.add(name, "application/json", b)
}

func gvkOf(kind string) schema.GroupVersionKind {
	g := kinds[kind].group
	return schema.GroupVersionKind{Group: g, Version: "v1", Kind: kind}
}

// Apply implements Action.
func (a *Evidence) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	rec := newRecord(a.Name(), env, t)
	defer rec.finish()
	maxLog, maxTotal := a.MaxLogBytes, a.MaxTotalBytes
	if maxLog <= 0 {
		maxLog = 256 << 10
	}
	if maxTotal <= 0 {
		maxTotal = 4 << 20
	}
	c := &collector{left: maxTotal}
	pods := env.Client.CoreV1().Pods(t.Namespace)
	pod, err := pods.Get(ctx, t.Pod, metav1.GetOptions{})
	if err != nil {
		return rec, fmt.Errorf("capture evidence: get pod %s/%s: %w", t.Namespace, t.Pod, err)
	}
	rec.Object = refOf("Pod", pod)
	c.manifest("pod/"+pod.Name+".json", gvkOf("Pod"), pod.DeepCopy())

	// The other parts are independent reads: they run concurrently, each
	// into its own collector, and are merged in a fixed order.
	var parts []func(c *collector)
	uids := []string{string(pod.UID)}
	for _, l := range t.Chain.Links[min(1, len(t.Chain.Links)):] {
		if l.UID != "" {
			uids = append(uids, l.UID)
		}
		parts = append(parts, func(c *collector) {
			name := l.Kind + "/" + l.Name + ".json"
			if _, ok := kinds[l.Kind]; !ok {
				c.fail(name, fmt.Errorf("owner kind %s (%s) not captured", l.Kind, l.APIVersion))
				return
			}
			obj, err := GetObject(ctx, env.Client, ObjectRef{Kind: l.Kind, Namespace: t.Namespace, Name: l.Name})
			if err != nil {
				c.fail(name, err)
				return
			}
			c.manifest(name, gvkOf(l.Kind), obj)
		})
	}
	for _, ct := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, prev := range []bool{false, true} {
			parts = append(parts, func(c *collector) {
				item := "logs/" + ct.Name
				if prev {
					item += ".previous"
				}
				if pod.Spec.NodeName == "" {
					c.fail(item, errors.New("pod not scheduled: no container has run"))
					return
				}
				data, err := pods.GetLogs(pod.Name, &corev1.PodLogOptions{Container: ct.Name, Previous: prev, LimitBytes: &maxLog}).DoRaw(ctx)
				if err != nil {
					c.fail(item, fmt.Errorf("get logs: %w", err))
					return
				}
				c.add(item, "text/plain", data)
			})
		}
	}
	parts = append(parts, func(c *collector) { captureEvents(ctx, env, t.Namespace, uids, c) })
	if node := pod.Spec.NodeName; node != "" {
		parts = append(parts, func(c *collector) {
			n, err := env.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
			if err != nil {
				c.fail("node/"+node+".json", fmt.Errorf("get node: %w", err))
				return
			}
			c.manifest("node/"+node+".json", gvkOf("Node"), n)
		})
	}
	sub := make([]collector, len(parts))
	var wg sync.WaitGroup
	for i, part := range parts {
		sub[i].left = maxTotal
		wg.Go(func() { part(&sub[i]) })
	}
	wg.Wait()
	for _, s := range sub {
		for _, it := range s.items {
			if it.Error != "" {
				c.items = append(c.items, it)
			} else {
				c.add(it.Name, it.MediaType, it.Data)
			}
		}
	}
	rec.Evidence = c.items
	env.log().Info("captured evidence", "pod", t.Pod, "namespace", t.Namespace, "items", len(c.items),
		"bytes", maxTotal-c.left, "incident", env.Incident)
	return rec, nil
}

// captureEvents adds the events involving any of uids.
func captureEvents(ctx context.Context, env Env, ns string, uids []string, c *collector) {
	var events []corev1.Event
	for _, uid := range uids {
		l, err := env.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + uid})
		if err != nil {
			c.fail("events.json", fmt.Errorf("list events: %w", err))
			return
		}
		for _, e := range l.Items {
			e.ManagedFields = nil
			events = append(events, e)
		}
	}
	if b, err := json.MarshalIndent(events, "", "  "); err == nil {
		c.add("events.json", "application/json", b)
	}
}
