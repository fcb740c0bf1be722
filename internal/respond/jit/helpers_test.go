package jit_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/owner"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/respond/jit"
	"quell.dev/quell/internal/testenv"
)

var incidents atomic.Int64

func init() { incidents.Store(time.Now().Unix() % 100000 * 1000) }

func nextIncident() int64 { return incidents.Add(1) }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// adminConfig is the control plane's admin config, authenticating with a
// static token.
func adminConfig(t testing.TB) *rest.Config {
	t.Helper()
	return testenv.Cluster(t).RESTConfig(devcluster.AdminUser)
}

func admin(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(adminConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// newIssuer is an Issuer acting as the admin.
func newIssuer(t testing.TB, opts jit.Options) *jit.Issuer {
	t.Helper()
	return jit.NewIssuer(admin(t), adminConfig(t), opts)
}

// namespace creates a namespace named after the test.
func namespace(t testing.TB, cs kubernetes.Interface) string {
	t.Helper()
	name := strings.NewReplacer("/", "-", "_", "-").Replace(strings.ToLower(t.Name()))
	name = fmt.Sprintf("%s-%d", strings.Trim(name[:min(len(name), 40)], "-"), nextIncident()%100000)
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func envFor(cs kubernetes.Interface, incident int64) respond.Env {
	return respond.Env{Client: cs, Incident: incident, GracePeriod: ptr.To[int64](0), VerifyHold: ptr.To(time.Duration(0))}
}

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func mkDeployment(t testing.TB, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(name)}}
	if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func mkPod(t testing.TB, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	tpl := podTemplate(name)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tpl.Labels}, Spec: tpl.Spec}
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// mkNode creates a node without the not-ready taint a node without a
// kubelet keeps.
func mkNode(t testing.TB, cs kubernetes.Interface, name string) {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		Labels: map[string]string{"kubernetes.io/hostname": name}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	n.Spec.Taints = nil
	if _, err := cs.CoreV1().Nodes().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPods waits until n live pods match selector and returns their names.
func waitPods(t testing.TB, cs kubernetes.Interface, ns, selector string, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range l.Items {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		if len(names) == n {
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods %s/%s: have %d, want %d", ns, selector, len(names), n)
		}
	}
}

func target(t testing.TB, cs kubernetes.Interface, ns, pod string) respond.Target {
	t.Helper()
	chain, err := owner.NewResolver(cs, nil).Resolve(t.Context(), ns, pod)
	if err != nil {
		t.Fatal(err)
	}
	return respond.Target{Namespace: ns, Pod: pod, Chain: chain}
}

// leftovers lists, in every namespace, the objects of the kinds Acquire
// creates that carry selector.
func leftovers(t testing.TB, cs kubernetes.Interface, selector string) []string {
	t.Helper()
	ctx, opts := t.Context(), metav1.ListOptions{LabelSelector: selector}
	var out []string
	add := func(kind string, items []metav1.Object) {
		for _, o := range items {
			out = append(out, kind+"/"+o.GetNamespace()+"/"+o.GetName())
		}
	}
	add("ServiceAccount", ptrs(must(cs.CoreV1().ServiceAccounts("").List(ctx, opts)).Items))
	add("Role", ptrs(must(cs.RbacV1().Roles("").List(ctx, opts)).Items))
	add("RoleBinding", ptrs(must(cs.RbacV1().RoleBindings("").List(ctx, opts)).Items))
	add("ClusterRole", ptrs(must(cs.RbacV1().ClusterRoles().List(ctx, opts)).Items))
	add("ClusterRoleBinding", ptrs(must(cs.RbacV1().ClusterRoleBindings().List(ctx, opts)).Items))
	return out
}

func ptrs[T any, P interface {
	*T
	metav1.Object
}](items []T) []metav1.Object {
	out := make([]metav1.Object, len(items))
	for i := range items {
		out[i] = P(&items[i])
	}
	return out
}

func incidentSelector(id int64) string { return respond.LabelIncident + "=" + itoa(id) }

// waitRefused waits until a request cs was allowed (listing pods in ns)
// is refused, 403 (its bindings are gone) or 401 (its token is no longer
// accepted), and returns how long that took.
func waitRefused(t testing.TB, cs kubernetes.Interface, ns string) time.Duration {
	t.Helper()
	return waitErr(t, cs, ns, func(err error) bool { return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) })
}

// waitUnauthorized waits until cs's token is rejected (401) and returns
// how long that took. kube-apiserver caches a token it authenticated for
// 10 s, so this takes up to 10 s after the ServiceAccount is deleted.
func waitUnauthorized(t testing.TB, cs kubernetes.Interface, ns string) time.Duration {
	t.Helper()
	return waitErr(t, cs, ns, apierrors.IsUnauthorized)
}

func waitErr(t testing.TB, cs kubernetes.Interface, ns string, want func(error) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for deadline := start.Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{Limit: 1})
		if want(err) {
			return time.Since(start)
		}
		if err != nil && !apierrors.IsForbidden(err) {
			t.Fatalf("list pods with a released lease: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("released lease's token: last error %v after 15s", err)
		}
	}
}
