package deploy_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"quell.dev/quell/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite deploy/manifests from the chart")

const manifestHeader = "# Rendered from deploy/helm/quell with default values (release quell,\n" +
	"# namespace quell-system) by\n" +
	"#   go test ./test/deploy -run TestPlainManifests -update\n" +
	"# Do not edit: a test fails when this file and the chart disagree.\n"

// TestPlainManifests keeps deploy/manifests what the chart renders with
// default values.
func TestPlainManifests(t *testing.T) {
	want := manifestHeader + string(render(t, installs()[0]))
	testenv.Generated(t, filepath.Dir(manifests), map[string][]byte{filepath.Base(manifests): []byte(want)},
		*update, "go test ./test/deploy -run TestPlainManifests -update")
}

// TestTemplate renders both installs and checks what each part relies on.
func TestTemplate(t *testing.T) {
	for _, in := range installs() {
		t.Run(in.name, func(t *testing.T) {
			objs := parse(t, render(t, in))
			for _, u := range objs {
				if ns := u.GetNamespace(); ns != "" && ns != in.namespace {
					t.Errorf("%s %s in namespace %s, want %s", u.GetKind(), u.GetName(), ns, in.namespace)
				}
			}
			checkServer(t, in, as[appsv1.Deployment](t, objs.get(t, "Deployment", in.fullname)))
			checkSensor(t, in, as[appsv1.DaemonSet](t, objs.get(t, "DaemonSet", in.fullname+"-sensor")))
			for _, kind := range []string{"Service", "PodDisruptionBudget", "ConfigMap", "ServiceAccount"} {
				objs.get(t, kind, in.fullname)
			}
			objs.get(t, "ConfigMap", in.fullname+"-audit")
			for _, kind := range []string{"ClusterRole", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
				if got := objs.has(kind, in.fullname+"-jit"); got != in.jit {
					t.Errorf("%s %s-jit rendered: %v, want %v", kind, in.fullname, got, in.jit)
				}
			}
			// Credentials come from values only: by default the chart
			// creates no Secret.
			var secrets []string
			for _, u := range objs {
				if u.GetKind() == "Secret" {
					secrets = append(secrets, u.GetName())
				}
			}
			want := []string(nil)
			if in.jit {
				want = []string{in.fullname + "-postgres", in.fullname + "-tokens", in.fullname + "-notify"}
			}
			if diff := cmp.Diff(want, secrets); diff != "" {
				t.Errorf("Secrets (-want +got):\n%s", diff)
			}
		})
	}
}

func checkServer(t *testing.T, in install, d *appsv1.Deployment) {
	t.Helper()
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("server replicas %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != in.fullname || pod.HostPID || pod.HostNetwork {
		t.Errorf("server pod: service account %q, hostPID %v, hostNetwork %v", pod.ServiceAccountName, pod.HostPID, pod.HostNetwork)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("server pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	c := pod.Containers[0]
	checkContainer(t, "server", c, nil)
	if !slices.Equal(c.Args, []string{"server", "--config", "/etc/quell/quell.yaml"}) {
		t.Errorf("server args %v", c.Args)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["POD_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("POD_NAME %+v: want the downward API's metadata.name", e)
	}
	if e := env["QUELL_SERVER_STORE"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != in.fullname+"-postgres" {
		t.Errorf("QUELL_SERVER_STORE %+v: want the DSN from the Secret %s-postgres", e, in.fullname)
	}
	for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe {
			t.Errorf("probe %s: %+v", probe, p)
		}
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("server resources %+v: want requests and limits", c.Resources)
	}
}

func checkSensor(t *testing.T, in install, d *appsv1.DaemonSet) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if pod.ServiceAccountName != in.fullname+"-sensor" || !pod.HostPID || pod.HostNetwork {
		t.Errorf("sensor pod: service account %q, hostPID %v (want true), hostNetwork %v", pod.ServiceAccountName, pod.HostPID, pod.HostNetwork)
	}
	if psc := pod.SecurityContext; psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("sensor pod securityContext %+v: want seccomp RuntimeDefault", psc)
	}
	c := pod.Containers[0]
	// The four of docs/sensor.md ("Privileges"), which TestLeastPrivilege
	// in internal/sensor runs the sensor with.
	checkContainer(t, "sensor", c, []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"})
	var node *corev1.EnvVar
	for i, e := range c.Env {
		if e.Name == "NODE_NAME" {
			node = &c.Env[i]
		}
	}
	if node == nil || node.ValueFrom == nil || node.ValueFrom.FieldRef == nil || node.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME %+v: want the downward API's spec.nodeName", node)
	}
	var token *corev1.SecretVolumeSource
	for _, v := range pod.Volumes {
		if v.Name == "token" {
			token = v.Secret
		}
	}
	if token == nil || token.SecretName != in.fullname+"-tokens" || len(token.Items) != 1 || token.Items[0].Key != "sensor" {
		t.Errorf("sensor token volume %+v: want only the key sensor of %s-tokens", token, in.fullname)
	}
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--token-file=") }) {
		t.Errorf("sensor args %v lack --token-file", c.Args)
	}
}

// checkContainer: read-only root, no privilege escalation, not
// privileged, every capability dropped but add.
func checkContainer(t *testing.T, name string, c corev1.Container, add []corev1.Capability) {
	t.Helper()
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || (sc.Privileged != nil && *sc.Privileged) {
		t.Fatalf("%s securityContext %+v: want readOnlyRootFilesystem, no privilege escalation, not privileged", name, sc)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s drops %v, want ALL", name, sc.Capabilities)
	}
	if diff := cmp.Diff(add, sc.Capabilities.Add); diff != "" {
		t.Errorf("%s capabilities added (-want +got):\n%s", name, diff)
	}
}

// TestTemplateRejects: values the chart cannot work with fail the render
// and name the value.
func TestTemplateRejects(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown credentials", []string{"--set", "response.credentials=root"}, "/response/credentials"},
		{"no replica", []string{"--set", "server.replicas=0"}, "/server/replicas"},
		{"short token", []string{"--set", "auth.sensorToken=short"}, "/auth/sensorToken"},
		{"unknown mode", []string{"--set", "config.mode=yolo"}, "/config/mode"},
		{"misspelt value", []string{"--set", "sever.replicas=3"}, "'sever' not allowed"},
		{"bad duration", []string{"--set", "ha.leaseDuration=soon"}, "/ha/leaseDuration"},
		{"sqlite with two replicas", []string{"--set", "sqlite.enabled=true"}, "sqlite.enabled keeps the store in one pod"},
		{"two replicas without leader election", []string{"--set", "ha.enabled=false"}, "needs ha.enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := helmTemplate(t, defaultRel, defaultNS, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("helm template %v: %v, want an error naming %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestJITFromPlaybook: a playbook's credentials: jit needs the jit RBAC
// and policy as response.credentials: jit does (the engine honours both).
func TestJITFromPlaybook(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	body := "playbooks:\n  a.yaml: |\n    playbooks:\n      - name: x\n        match: {rules: [\"*\"]}\n        credentials: jit\n        steps: [validate]\n"
	if err := os.WriteFile(values, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := helmTemplate(t, defaultRel, defaultNS, "-f", values)
	if err != nil {
		t.Fatal(err)
	}
	objs := parse(t, out)
	for _, kind := range []string{"ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy"} {
		if !objs.has(kind, "quell-jit") {
			t.Errorf("no %s quell-jit for a playbook with jit credentials", kind)
		}
	}
}
