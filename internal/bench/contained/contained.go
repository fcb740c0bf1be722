// Package contained observes containment the way a user of the cluster
// would: through a watch on the pods a response must remove. A Watch lists
// the pods matching a selector, then follows them from the list's
// resourceVersion; Wait returns when the watch has seen the last of them
// deleted (a pod created meanwhile, e.g. a replacement, must go too). It
// reads only, and its cost on the API server is one list and one watch,
// not a poll.
package contained

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Watch follows the pods of one selector in one namespace.
type Watch struct {
	what    string
	present map[types.UID]bool
	w       watch.Interface
}

// Start lists the pods in ns matching selector (a label selector, or
// fieldSelector when it starts with "metadata.name=") and starts watching
// them. There must be at least one. Stop releases the watch.
func Start(ctx context.Context, cs kubernetes.Interface, ns, selector string) (*Watch, error) {
	opts := metav1.ListOptions{LabelSelector: selector}
	if strings.HasPrefix(selector, "metadata.name=") {
		opts = metav1.ListOptions{FieldSelector: selector}
	}
	what := fmt.Sprintf("pods %s in %s", selector, ns)
	l, err := cs.CoreV1().Pods(ns).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	if len(l.Items) == 0 {
		return nil, fmt.Errorf("watch %s: no pod matches", what)
	}
	present := make(map[types.UID]bool, len(l.Items))
	for _, p := range l.Items {
		present[p.UID] = true
	}
	opts.ResourceVersion = l.ResourceVersion
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", what, err)
	}
	return &Watch{what: what, present: present, w: w}, nil
}

// Wait returns the time the watch saw the last pod deleted, or an error
// after timeout or when the watch ends first.
func (w *Watch) Wait(ctx context.Context, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("wait for %s to go: %d remain: %w", w.what, len(w.present), ctx.Err())
		case ev, ok := <-w.w.ResultChan():
			if !ok {
				return time.Time{}, fmt.Errorf("wait for %s to go: %w", w.what, errors.New("watch closed"))
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Error:
				return time.Time{}, fmt.Errorf("wait for %s to go: watch error: %v", w.what, ev.Object)
			case !isPod:
			case ev.Type == watch.Deleted:
				delete(w.present, p.UID)
				if len(w.present) == 0 {
					return time.Now(), nil
				}
			case ev.Type == watch.Added || ev.Type == watch.Modified:
				w.present[p.UID] = true
			}
		}
	}
}

// Stop ends the watch.
func (w *Watch) Stop() { w.w.Stop() }
