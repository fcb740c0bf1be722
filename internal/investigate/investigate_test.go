package investigate_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/investigate"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const ns = "shop"

// auditedCluster starts a control plane whose audit webhook feeds idx
// once feeding is set (events before it are dropped, as if quell had not
// been running then).
func auditedCluster(t *testing.T, idx *investigate.AuditIndex, feeding *atomic.Bool) *devcluster.Cluster {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !feeding.Load() {
			return
		}
		evs, err := rules.DecodeAudit(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, ev := range evs {
			idx.Observe(ev.Raw())
		}
	}))
	t.Cleanup(srv.Close)
	testenv.Binaries(t)
	c, err := testenv.Start(t.Context(), t.TempDir(), devcluster.Options{AuditWebhookURL: srv.URL, AuditBatchWait: 50 * time.Millisecond})
	if err != nil {
		testenv.SkipOrFail(t, err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

func clientFor(t *testing.T, c *devcluster.Cluster, user string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.RESTConfig(user))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func binding(name string, role rbacv1.RoleRef, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, RoleRef: role, Subjects: subjects}
}

func clusterRole(name string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}
}

func role(name string) rbacv1.RoleRef {
	return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}
}

// TestPodReport builds a namespace as an attacker and its operators
// would, on a real control plane with a real audit webhook, and checks
// every section of the reports of a Deployment's pod, a privileged bare
// pod and a pod created before audit events were received.
func TestPodReport(t *testing.T) {
	idx := investigate.NewAuditIndex(0)
	var feeding atomic.Bool
	c := auditedCluster(t, idx, &feeding)
	admin := clientFor(t, c, devcluster.AdminUser)
	ctx := t.Context()
	core := admin.CoreV1()

	must[*corev1.Namespace](t)(core.Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"environment": "production"}}}, metav1.CreateOptions{}))
	legacy := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "legacy"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	must[*corev1.Pod](t)(core.Pods(ns).Create(ctx, legacy, metav1.CreateOptions{}))
	time.Sleep(300 * time.Millisecond) // past the webhook's batch: legacy's creation is not fed
	feeding.Store(true)

	rb := admin.RbacV1()
	must[*corev1.ServiceAccount](t)(core.ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}))
	must[*rbacv1.Role](t)(rb.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list"}}}}, metav1.CreateOptions{}))
	must[*rbacv1.Role](t)(rb.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "exec-only"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}}}, metav1.CreateOptions{}))
	must[*rbacv1.Role](t)(rb.Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "one-pod"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}, ResourceNames: []string{"only-this"}}}}, metav1.CreateOptions{}))
	must[*rbacv1.ClusterRole](t)(rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "shop-pod-maker"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create"}}}}, metav1.CreateOptions{}))
	for _, b := range []*rbacv1.RoleBinding{
		binding("bob-edit", clusterRole("edit"), rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "bob"}),
		binding("web-secrets", role("secret-reader"), rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: "web", Namespace: ns}),
		binding("oncall-exec", role("exec-only"), rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "oncall"}),
		binding("carol-view", clusterRole("view"), rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "carol"}),
		binding("erin-one-pod", role("one-pod"), rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "erin"}),
	} {
		must[*rbacv1.RoleBinding](t)(rb.RoleBindings(ns).Create(ctx, b, metav1.CreateOptions{}))
	}
	must[*rbacv1.ClusterRoleBinding](t)(rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "shop-dave-pods"},
		RoleRef: clusterRole("shop-pod-maker"), Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "dave"}}}, metav1.CreateOptions{}))
	must[*corev1.ConfigMap](t)(core.ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"}}, metav1.CreateOptions{}))
	must[*corev1.Secret](t)(core.Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "web-tls"}, StringData: map[string]string{"key": "k"}}, metav1.CreateOptions{}))
	must[*corev1.PersistentVolumeClaim](t)(core.PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}, metav1.CreateOptions{}))

	// bob, with a token of his own, creates the Deployment once his
	// binding is in force.
	bob := clientFor(t, c, "bob")
	waitAllowed(t, admin, "bob", nil, "create", "apps", "deployments")
	image := "registry.example.com:5000/shop/web:1.2@sha256:" + strings.Repeat("ab", 32)
	must[*appsv1.Deployment](t)(bob.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: restrictedSpec(image)}},
	}, metav1.CreateOptions{}))
	must[*corev1.Service](t)(core.Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{}))
	pub := must[*corev1.Service](t)(core.Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-public"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 443}}}}, metav1.CreateOptions{}))
	must[*corev1.Service](t)(core.Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}, Ports: []corev1.ServicePort{{Port: 5432}}}}, metav1.CreateOptions{}))
	pathType := networkingv1.PathTypePrefix
	must[*networkingv1.Ingress](t)(admin.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web-public", Port: networkingv1.ServiceBackendPort{Number: 443}}}}}}}}}},
	}, metav1.CreateOptions{}))
	must[*networkingv1.NetworkPolicy](t)(admin.NetworkingV1().NetworkPolicies(ns).Create(ctx, &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web-ingress"},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}, metav1.CreateOptions{}))
	must[*corev1.Pod](t)(core.Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug"},
		Spec: corev1.PodSpec{HostPID: true, Containers: []corev1.Container{{Name: "shell", Image: "busybox:1.36",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
			VolumeMounts:    []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}}},
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}}}}}, metav1.CreateOptions{}))

	webPods := waitPods(t, admin, "app=web", 2)
	waitOrigin(t, idx, "apps", "deployments", "web")
	waitOrigin(t, idx, "", "pods", "debug")
	waitOrigin(t, idx, "", "pods", webPods[0])
	objs := testenv.Objects(t, admin, investigate.Kinds...)
	iv, err := investigate.New(investigate.Options{Objects: objs, Client: admin, Audit: idx})
	if err != nil {
		t.Fatal(err)
	}
	web := must[*investigate.Report](t)(iv.Pod(ctx, ns, webPods[0]))
	debug := must[*investigate.Report](t)(iv.Pod(ctx, ns, "debug"))
	old := must[*investigate.Report](t)(iv.Pod(ctx, ns, "legacy"))

	t.Run("origin", func(t *testing.T) {
		o := web.Origin
		if o.Workload == nil || o.Workload.Created == nil {
			t.Fatalf("workload origin = %+v", o.Workload)
		}
		if got := o.Workload.Created; got.User != "bob" || got.Verb != "create" || len(got.SourceIPs) == 0 || got.UserAgent == "" {
			t.Errorf("Deployment created by %+v, want bob with source IPs and user agent", got)
		}
		if got := o.Pod.Created; got == nil || got.ServiceAccount != "kube-system/replicaset-controller" {
			t.Errorf("web pod created by %+v, want the replicaset controller's service account", got)
		}
		if got := debug.Origin.Pod.Created; got == nil || got.User != devcluster.AdminUser {
			t.Errorf("debug pod created by %+v, want %s", got, devcluster.AdminUser)
		}
		if debug.Origin.Workload != nil {
			t.Errorf("bare pod has a workload origin: %+v", debug.Origin.Workload)
		}
		if o := old.Origin.Pod; o.Created != nil || !strings.HasPrefix(o.Unknown, "unknown") {
			t.Errorf("legacy pod origin = %+v, want unknown", o)
		}
	})
	t.Run("workload", func(t *testing.T) {
		w := web.Workload
		var kinds []string
		for _, l := range w.Chain {
			kinds = append(kinds, l.Kind)
		}
		if diff := cmp.Diff([]string{"Pod", "ReplicaSet", "Deployment"}, kinds); diff != "" {
			t.Errorf("chain (-want +got):\n%s", diff)
		}
		var names []string
		for _, p := range w.Pods {
			names = append(names, p.Name)
		}
		sort.Strings(webPods)
		if w.Kind != "Deployment" || w.Name != "web" || w.Replicas == nil || *w.Replicas != 2 || !cmp.Equal(webPods, names) {
			t.Errorf("workload = %s %s replicas %v pods %v, want Deployment web, 2, %v", w.Kind, w.Name, w.Replicas, names, webPods)
		}
		if d := debug.Workload; d.Kind != "Pod" || len(d.Pods) != 1 || d.Replicas != nil {
			t.Errorf("bare pod workload = %+v", d)
		}
	})
	t.Run("configuration", func(t *testing.T) {
		wc := web.Config
		want := investigate.Image{Container: "web", Reference: image, Registry: "registry.example.com:5000", Repository: "shop/web", Tag: "1.2", Digest: "sha256:" + strings.Repeat("ab", 32)}
		if diff := cmp.Diff([]investigate.Image{want}, wc.Images); diff != "" {
			t.Errorf("images (-want +got):\n%s", diff)
		}
		if wc.PodSecurity.Level != "restricted" || len(wc.HostPaths) > 0 || wc.Containers[0].Privileged || wc.Containers[0].RunAsRoot || wc.AutomountToken {
			t.Errorf("web configuration = %+v", wc)
		}
		dc := debug.Config
		if !dc.HostPID || !dc.Containers[0].Privileged || !dc.Containers[0].RunAsRoot || !dc.AutomountToken || dc.PodSecurity.Level != "privileged" || len(dc.PodSecurity.Baseline) == 0 {
			t.Errorf("debug configuration = %+v", dc)
		}
		if diff := cmp.Diff([]investigate.HostPath{{Volume: "host", Path: "/", Sensitive: true}}, dc.HostPaths); diff != "" {
			t.Errorf("host paths (-want +got):\n%s", diff)
		}
		if i := dc.Images[0]; i.Registry != "docker.io" || i.Repository != "library/busybox" || i.Tag != "1.36" {
			t.Errorf("busybox image = %+v", i)
		}
	})
	t.Run("access", func(t *testing.T) {
		a := web.Access
		if a.ServiceAccount != ns+"/web" || !slices.ContainsFunc(a.Grants, func(g investigate.Grant) bool { return g.Binding == "RoleBinding shop/web-secrets" }) {
			t.Errorf("web access = %s, grants %+v", a.ServiceAccount, a.Grants)
		}
		if !slices.Contains(a.Dangerous, "reads secrets (RoleBinding shop/web-secrets -> Role shop/secret-reader)") {
			t.Errorf("dangerous = %v", a.Dangerous)
		}
		if d := debug.Access; slices.ContainsFunc(d.Grants, func(g investigate.Grant) bool { return strings.HasPrefix(g.Binding, "RoleBinding") }) || len(d.Dangerous) > 0 {
			t.Errorf("default service account access = %+v", d)
		}
		// Exactly right: the API server's own authorizer answers for every
		// subject of every binding in force here.
		for verb, list := range map[string][]investigate.SubjectGrant{"create pods": a.CanCreatePods, "exec into pods": a.CanExecPods} {
			got := map[string]bool{}
			for _, s := range list {
				got[s.Subject] = true
			}
			sub := ""
			if verb == "exec into pods" {
				sub = "exec"
			}
			want := allowedSubjects(t, admin, sub)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("who can %s in %s (-authorizer +report):\n%s", verb, ns, diff)
			}
		}
		has := func(list []investigate.SubjectGrant, subject, binding string) bool {
			return slices.ContainsFunc(list, func(s investigate.SubjectGrant) bool { return s.Subject == subject && s.Binding == binding })
		}
		if !has(a.CanCreatePods, "User bob", "RoleBinding shop/bob-edit") || !has(a.CanCreatePods, "User dave", "ClusterRoleBinding shop-dave-pods") ||
			!has(a.CanExecPods, "Group oncall", "RoleBinding shop/oncall-exec") {
			t.Errorf("can create pods %v, can exec %v", a.CanCreatePods, a.CanExecPods)
		}
	})
	t.Run("exposure", func(t *testing.T) {
		e := web.Exposure
		nodePort := pub.Spec.Ports[0].NodePort
		wantSvcs := []investigate.Service{
			{Name: "web", Type: "ClusterIP", Ports: []string{"80/TCP"}},
			{Name: "web-public", Type: "NodePort", Ports: []string{"443/TCP (node port " + itoa(nodePort) + ")"}, External: true},
		}
		if diff := cmp.Diff(wantSvcs, e.Services); diff != "" {
			t.Errorf("services (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]investigate.Ingress{{Name: "web", Hosts: []string{"shop.example.com"}, Services: []string{"web-public"}}}, e.Ingresses); diff != "" {
			t.Errorf("ingresses (-want +got):\n%s", diff)
		}
		if !cmp.Equal([]string{"web-ingress"}, e.NetworkPolicies) || !e.IngressIsolated || e.EgressIsolated {
			t.Errorf("policies %v ingress %v egress %v", e.NetworkPolicies, e.IngressIsolated, e.EgressIsolated)
		}
		if d := debug.Exposure; len(d.Services)+len(d.Ingresses)+len(d.NetworkPolicies) > 0 || d.IngressIsolated {
			t.Errorf("debug exposure = %+v", d)
		}
	})
	t.Run("dependencies", func(t *testing.T) {
		d := web.Dependencies
		if diff := cmp.Diff([]investigate.Reference{{Name: "web-config", Uses: []string{"volume config"}}}, d.ConfigMaps); diff != "" {
			t.Errorf("config maps (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]investigate.Reference{{Name: "web-tls", Uses: []string{"env TLS_KEY of container web"}}}, d.Secrets); diff != "" {
			t.Errorf("secrets (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]investigate.PVC{{Name: "data", Phase: "Pending"}}, d.PVCs); diff != "" {
			t.Errorf("claims (-want +got):\n%s", diff)
		}
	})
	t.Run("impact", func(t *testing.T) {
		if web.Impact.NamespaceLabels["environment"] != "production" || !slices.Contains(web.Impact.Criticality, "namespace label environment=production") {
			t.Errorf("impact = %+v", web.Impact)
		}
		if debug.Impact.Score <= web.Impact.Score || !slices.ContainsFunc(debug.Impact.Reasons, func(r investigate.ScoreReason) bool { return strings.Contains(r.Why, "privileged") }) {
			t.Errorf("debug score %d (%v) not above web's %d", debug.Impact.Score, debug.Impact.Reasons, web.Impact.Score)
		}
		sum := 0
		for _, r := range web.Impact.Reasons {
			sum += r.Points
		}
		if web.Impact.Score != min(sum, 100) {
			t.Errorf("score %d is not the sum of its reasons %d", web.Impact.Score, sum)
		}
		if s := playbook.Suggest(incident.SeverityCritical, web); s == nil || !slices.Contains(s.Actions, "suspend-workload") {
			t.Errorf("suggestion for a critical alert on a Deployment's pod = %+v", s)
		}
		if s := playbook.Suggest(incident.SeverityCritical, debug); s == nil || !slices.Contains(s.Actions, "terminate-pod") {
			t.Errorf("suggestion for a critical alert on a bare pod = %+v", s)
		}
	})
}

// restrictedSpec is a pod spec meeting the restricted Pod Security
// Standard, with a config map volume, a secret in its env and a claim.
func restrictedSpec(image string) corev1.PodSpec {
	return corev1.PodSpec{
		ServiceAccountName: "web", AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "web", Image: image,
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			Env:             []corev1.EnvVar{{Name: "TLS_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "web-tls"}, Key: "key"}}}},
			VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web"}, {Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		},
	}
}

// allowedSubjects asks the API server, for every subject of every
// binding in force in ns, whether it may create pods (sub "") or exec
// into any pod (sub "exec") there, by itself (no group it might belong
// to: the report lists the subjects bindings name).
func allowedSubjects(t *testing.T, cs kubernetes.Interface, sub string) map[string]bool {
	t.Helper()
	var subjects []rbacv1.Subject
	rbs := must[*rbacv1.RoleBindingList](t)(cs.RbacV1().RoleBindings(ns).List(t.Context(), metav1.ListOptions{}))
	for _, b := range rbs.Items {
		subjects = append(subjects, b.Subjects...)
	}
	crbs := must[*rbacv1.ClusterRoleBindingList](t)(cs.RbacV1().ClusterRoleBindings().List(t.Context(), metav1.ListOptions{}))
	for _, b := range crbs.Items {
		subjects = append(subjects, b.Subjects...)
	}
	out := map[string]bool{}
	for _, s := range subjects {
		var user string
		var groups []string
		name := s.Kind + " " + s.Name
		switch s.Kind {
		case rbacv1.UserKind:
			user = s.Name
		case rbacv1.GroupKind:
			groups = []string{s.Name}
		case rbacv1.ServiceAccountKind:
			user = "system:serviceaccount:" + s.Namespace + ":" + s.Name
			name = "ServiceAccount " + s.Namespace + "/" + s.Name
		}
		if allowed(t, cs, user, groups, "create", "", "pods", sub) {
			out[name] = true
		}
	}
	return out
}

func allowed(t *testing.T, cs kubernetes.Interface, user string, groups []string, verb, group, res, sub string) bool {
	t.Helper()
	r := must[*authzv1.SubjectAccessReview](t)(cs.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{User: user, Groups: groups,
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: res, Subresource: sub}},
	}, metav1.CreateOptions{}))
	return r.Status.Allowed
}

// waitAllowed waits until the authorizer lets user verb group/res in ns.
func waitAllowed(t *testing.T, cs kubernetes.Interface, user string, groups []string, verb, group, res string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !allowed(t, cs, user, groups, verb, group, res, "") {
		if time.Now().After(deadline) {
			t.Fatalf("%s never allowed to %s %s", user, verb, res)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitPods(t *testing.T, cs kubernetes.Interface, selector string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := must[*corev1.PodList](t)(cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: selector}))
		if len(l.Items) == n {
			var names []string
			for _, p := range l.Items {
				names = append(names, p.Name)
			}
			return names
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pods match %s, want %d", len(l.Items), selector, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitOrigin(t *testing.T, idx *investigate.AuditIndex, group, resource, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		if c, _, ok := idx.Origin(group, resource, ns, name, ""); ok && c != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no audit event for %s %s", resource, name)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
