package investigate_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/testenv"
)

// BenchmarkPodReport measures one report, caches warm, in a cluster of
// 2,000 pods (a 3-replica Deployment among them), 500 Roles, 500
// RoleBindings and 200 Services over 10 namespaces, on the real control
// plane.
func BenchmarkPodReport(b *testing.B) {
	c := testenv.Cluster(b)
	cfg := c.RESTConfig(devcluster.AdminUser)
	cfg.QPS, cfg.Burst = 1000, 2000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	const namespaces = 10
	var work []func() error
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%d", i)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		pods := 200
		if i == 0 {
			pods -= 3 // the Deployment's
		}
		for j := range pods {
			work = append(work, func() error {
				_, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", j), Labels: map[string]string{"app": fmt.Sprintf("app-%d", j%20)}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
				return err
			})
		}
		for j := range 20 {
			work = append(work, func() error {
				_, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", j)},
					Spec: corev1.ServiceSpec{Selector: map[string]string{"app": fmt.Sprintf("app-%d", j)}, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
				return err
			})
		}
		for j := range 50 {
			work = append(work, func() error {
				name := fmt.Sprintf("role-%d", j)
				if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name},
					Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "configmaps"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}); err != nil {
					return err
				}
				_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
					RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
					Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("user-%d", j)}}}, metav1.CreateOptions{})
				return err
			})
		}
	}
	run(b, work, 32)
	if _, err := cs.AppsV1().Deployments("bench-0").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "target"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app-1"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "app-1"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	objs := testenv.Objects(b, cs, investigate.Kinds...)
	var target string
	deadline := time.Now().Add(2 * time.Minute)
	for target == "" {
		all, _ := objs.List("Pod", "bench-0")
		for _, p := range all {
			if len(p.GetOwnerReferences()) > 0 {
				target = p.GetName()
			}
		}
		if time.Now().After(deadline) {
			b.Fatal("the Deployment's pods never appeared")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		pods, _ := objs.List("Pod", "")
		svcs, _ := objs.List("Service", "")
		if len(pods) >= 2000 && len(svcs) >= 200 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("cache holds %d pods, %d services", len(pods), len(svcs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	iv, err := investigate.New(investigate.Options{Objects: objs, Client: cs, Audit: investigate.NewAuditIndex(0)})
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		r, err := iv.Pod(ctx, "bench-0", target)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if len(r.Workload.Pods) != 3 || len(r.Exposure.Services) != 1 {
			b.Fatalf("report: %d pods of the workload, %d services", len(r.Workload.Pods), len(r.Exposure.Services))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// run runs work on n goroutines, failing on the first error.
func run(b *testing.B, work []func() error, n int) {
	b.Helper()
	ch := make(chan func() error)
	var (
		wg   sync.WaitGroup
		once sync.Once
		fail error
	)
	for range n {
		wg.Go(func() {
			for f := range ch {
				if err := f(); err != nil {
					once.Do(func() { fail = err })
				}
			}
		})
	}
	for _, f := range work {
		ch <- f
	}
	close(ch)
	wg.Wait()
	if fail != nil {
		b.Fatal(fail)
	}
}
