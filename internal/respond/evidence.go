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
	"k8s.io/apimachinery/pkg/runtime"
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
	read  []metav1.Object // owners as read, for the actions after evidence
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
	// Every part is an independent read: they run concurrently, each into
	// its own collector, and are merged in a fixed order (pod, owners,
	// logs, events, node). The owners, and the events when the chain names
	// the pod's UID, do not wait for the pod.
	var owners, logs, events, node []func(c *collector)
	uids := []string{}
	for _, l := range t.Chain.Links[min(1, len(t.Chain.Links)):] {
		if l.UID != "" {
			uids = append(uids, l.UID)
		}
		owners = append(owners, func(c *collector) {
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
			c.read = append(c.read, obj)
			c.manifest(name, gvkOf(l.Kind), deepCopy(obj))
		})
	}
	var early []func(c *collector)
	early = append(early, owners...)
	eventsFor := func(uids []string) func(c *collector) {
		return func(c *collector) { captureEvents(ctx, env, t.Namespace, uids, c) }
	}
	if uid := t.podUID(); uid != "" {
		events = append(events, eventsFor(append([]string{uid}, uids...)))
		early = append(early, events...)
	}
	earlySub := make([]collector, len(early))
	var wg sync.WaitGroup
	for i, part := range early {
		earlySub[i].left = maxTotal
		wg.Go(func() { part(&earlySub[i]) })
	}
	pod, err := pods.Get(ctx, t.Pod, metav1.GetOptions{})
	if err != nil {
		wg.Wait()
		return rec, fmt.Errorf("capture evidence: get pod %s/%s: %w", t.Namespace, t.Pod, err)
	}
	rec.Object = refOf("Pod", pod)
	c.manifest("pod/"+pod.Name+".json", gvkOf("Pod"), pod.DeepCopy())
	for _, ct := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, prev := range []bool{false, true} {
			logs = append(logs, func(c *collector) {
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
	late := logs
	if t.podUID() == "" {
		events = append(events, eventsFor(append([]string{string(pod.UID)}, uids...)))
		late = append(late, events...)
	}
	if name := pod.Spec.NodeName; name != "" {
		node = append(node, func(c *collector) {
			n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				c.fail("node/"+name+".json", fmt.Errorf("get node: %w", err))
				return
			}
			c.manifest("node/"+name+".json", gvkOf("Node"), n)
		})
		late = append(late, node...)
	}
	lateSub := make([]collector, len(late))
	for i, part := range late {
		lateSub[i].left = maxTotal
		wg.Go(func() { part(&lateSub[i]) })
	}
	wg.Wait()
	// Merge in the fixed order: owners, logs, events, node.
	ordered := slices.Concat(earlySub[:len(owners)], lateSub[:len(logs)])
	if t.podUID() != "" {
		ordered = append(ordered, earlySub[len(owners):]...)
		ordered = append(ordered, lateSub[len(logs):]...)
	} else {
		ordered = append(ordered, lateSub[len(logs):]...)
	}
	for _, s := range ordered {
		rec.read = append(rec.read, s.read...)
		for _, it := range s.items {
			if it.Error != "" {
				c.items = append(c.items, it)
			} else {
				c.add(it.Name, it.MediaType, it.Data)
			}
		}
	}
	rec.Evidence = c.items
	rec.read = append(rec.read, pod)
	env.log().Info("captured evidence", "pod", t.Pod, "namespace", t.Namespace, "items", len(c.items),
		"bytes", maxTotal-c.left, "incident", env.Incident)
	return rec, nil
}

// captureEvents adds the events involving any of uids, listed
// concurrently.
func captureEvents(ctx context.Context, env Env, ns string, uids []string, c *collector) {
	lists := make([][]corev1.Event, len(uids))
	errs := make([]error, len(uids))
	var wg sync.WaitGroup
	for i, uid := range uids {
		wg.Go(func() {
			l, err := env.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + uid})
			if err != nil {
				errs[i] = err
				return
			}
			lists[i] = l.Items
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.fail("events.json", fmt.Errorf("list events: %w", err))
		return
	}
	events := []corev1.Event{}
	for _, l := range lists {
		for _, e := range l {
			e.ManagedFields = nil
			events = append(events, e)
		}
	}
	if b, err := json.MarshalIndent(events, "", "  "); err == nil {
		c.add("events.json", "application/json", b)
	}
}

// deepCopy copies a typed object (manifest clears its managed fields, and
// the original is handed on to the next action).
func deepCopy(o metav1.Object) metav1.Object {
	if r, ok := o.(runtime.Object); ok {
		if c, ok := r.DeepCopyObject().(metav1.Object); ok {
			return c
		}
	}
	return o
}
