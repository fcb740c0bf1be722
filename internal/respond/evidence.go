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
// so Changed is always false. Through Capture (see Staged) the events,
// which the actions do not destroy, are listed once the actions are done.
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

// Apply implements Action: Capture, then the whole record.
func (a *Evidence) Apply(ctx context.Context, env Env, t Target) (Record, error) {
	rec, complete, err := a.Capture(ctx, env, t)
	if err != nil {
		return rec, err
	}
	return complete(), nil
}

var _ Staged = (*Evidence)(nil)

// Capture implements Staged. It returns once everything the actions after
// it could destroy is read: the pod's and its owners' manifests, the logs
// and the node (the record's Objects are then complete, its items not
// yet). The events outlive the pod and its owners (the API server keeps
// them for their TTL), so they need not delay the action: complete lists
// them, then returns the whole record, its items in a fixed order: pod,
// owners, logs, events, node. Called after the actions, complete also
// finds the events those caused. The pod and its owners are read from the
// API server's watch cache (getRecent): at most moments old, which is what
// a read before a write is anyway; a workload's suspension is
// preconditioned on the resourceVersion read, so a change since starts it
// over from a fresh read.
func (a *Evidence) Capture(ctx context.Context, env Env, t Target) (rec Record, complete func() Record, err error) {
	rec = newRecord(a.Name(), env, t)
	maxLog, maxTotal := a.MaxLogBytes, a.MaxTotalBytes
	if maxLog <= 0 {
		maxLog = 256 << 10
	}
	if maxTotal <= 0 {
		maxTotal = 4 << 20
	}
	pods := env.Client.CoreV1().Pods(t.Namespace)
	// Every part is an independent read into its own collector: they run
	// concurrently and are merged in order. The owners do not wait for
	// the pod.
	var (
		parts  = map[string][]*collector{}
		before sync.WaitGroup
	)
	start := func(kind string, part func(c *collector)) {
		c := &collector{left: maxTotal}
		parts[kind] = append(parts[kind], c)
		before.Go(func() { part(c) })
	}
	uids := []string{}
	for _, l := range t.Chain.Links[min(1, len(t.Chain.Links)):] {
		if l.UID != "" {
			uids = append(uids, l.UID)
		}
		start("owners", func(c *collector) {
			name := l.Kind + "/" + l.Name + ".json"
			if _, ok := kinds[l.Kind]; !ok {
				c.fail(name, fmt.Errorf("owner kind %s (%s) not captured", l.Kind, l.APIVersion))
				return
			}
			obj, err := getRecent(ctx, env.Client, ObjectRef{Kind: l.Kind, Namespace: t.Namespace, Name: l.Name})
			if err != nil {
				c.fail(name, err)
				return
			}
			c.read = append(c.read, obj)
			c.manifest(name, gvkOf(l.Kind), deepCopy(obj))
		})
	}
	obj, err := getRecent(ctx, env.Client, ObjectRef{Kind: "Pod", Namespace: t.Namespace, Name: t.Pod})
	if err != nil {
		before.Wait()
		rec.finish()
		return rec, nil, fmt.Errorf("capture evidence: %w", err)
	}
	pod := obj.(*corev1.Pod)
	rec.Object = refOf("Pod", pod)
	c := &collector{left: maxTotal}
	c.manifest("pod/"+pod.Name+".json", gvkOf("Pod"), pod.DeepCopy())
	for _, ct := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		for _, prev := range []bool{false, true} {
			start("logs", func(c *collector) {
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
	if name := pod.Spec.NodeName; name != "" {
		start("node", func(c *collector) {
			n, err := env.Client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				c.fail("node/"+name+".json", fmt.Errorf("get node: %w", err))
				return
			}
			c.manifest("node/"+name+".json", gvkOf("Node"), n)
		})
	}
	before.Wait()
	for _, s := range parts["owners"] {
		rec.read = append(rec.read, s.read...)
	}
	rec.read = append(rec.read, pod)
	rec.finish() // what had to precede the action is read
	return rec, func() Record {
		events := &collector{left: maxTotal}
		captureEvents(ctx, env, t.Namespace, append([]string{string(pod.UID)}, uids...), events)
		for _, s := range slices.Concat(parts["owners"], parts["logs"], []*collector{events}, parts["node"]) {
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
		return rec
	}, nil
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
