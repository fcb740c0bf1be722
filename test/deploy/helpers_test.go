// Package deploy_test proves quell's Helm chart (deploy/helm/quell) and
// the plain manifests rendered from it (deploy/manifests) against the
// pinned helm and the real local control plane:
//
//   - the chart renders with default values and with the production-shaped
//     values of ci/jit-postgres-values.yaml, its quell.yaml, playbooks and
//     rules load as quell loads them, and broken values are refused;
//   - deploy/manifests is what the chart renders with default values;
//   - the rendered objects are accepted by a real `kubectl apply
//     --server-side`, a second apply changes nothing, and a broken value
//     fails a server-side dry run;
//   - the RBAC the chart grants each ServiceAccount is exactly what the
//     code declares it needs, compared as sets of (group, resource, verb),
//     and the API server's own authorizer agrees for a TokenRequest token
//     of each ServiceAccount: every needed permission is allowed, dangerous
//     ones are denied, and the sensor may write nothing.
package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	chartDir   = "../../deploy/helm/quell"
	jitValues  = chartDir + "/ci/jit-postgres-values.yaml"
	manifests  = "../../deploy/manifests/quell.yaml"
	defaultNS  = "quell-system"
	defaultRel = "quell"
)

// install is one way of installing the chart.
type install struct {
	name      string   // of the subtest
	release   string   // helm release name
	namespace string   // the release's namespace
	args      []string // helm template flags: values
	jit       bool     // response.credentials is jit
	fullname  string   // the chart's base name for release
}

// installs are the chart's two credential modes: the default values (what
// deploy/manifests holds) and jit with PostgreSQL, tokens and playbooks.
func installs() []install {
	return []install{
		{name: "default", release: defaultRel, namespace: defaultNS, fullname: "quell"},
		{name: "jit-postgres-playbooks", release: "qj", namespace: "quell-jit", args: []string{"-f", jitValues}, jit: true, fullname: "qj-quell"},
	}
}

// helmTemplate renders the chart as `helm template RELEASE --namespace NS`
// with args, helm's own state kept in a temporary directory.
func helmTemplate(t testing.TB, release, ns string, args ...string) ([]byte, error) {
	t.Helper()
	trackChart(t)
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), testenv.Helm(t), append([]string{"template", release, chartDir, "--namespace", ns}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, errors.New("helm template: " + err.Error() + ": " + strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// trackChart reads every file of the chart, so that go test's cache
// knows the results depend on them (helm reads them in another process).
func trackChart(t testing.TB) {
	t.Helper()
	err := filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatalf("read chart: %v", err)
	}
}

func render(t testing.TB, in install) []byte {
	t.Helper()
	out, err := helmTemplate(t, in.release, in.namespace, in.args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// objects are the documents of a rendered YAML stream.
type objects []*unstructured.Unstructured

func parse(t testing.TB, stream []byte) objects {
	t.Helper()
	var out objects
	for doc := range strings.SplitSeq(string(stream), "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if len(m) == 0 {
			continue // comments only
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	return out
}

// get returns the object of kind and name, failing the test without it.
func (o objects) get(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, u := range o {
		if u.GetKind() == kind && u.GetName() == name {
			return u
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func (o objects) has(kind, name string) bool {
	for _, u := range o {
		if u.GetKind() == kind && u.GetName() == name {
			return true
		}
	}
	return false
}

// as converts a rendered object to its typed form.
func as[T any](t testing.TB, u *unstructured.Unstructured) *T {
	t.Helper()
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &v, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &v
}

// kubectl runs the pinned kubectl as the cluster's admin with stdin.
func kubectl(t testing.TB, stdin []byte, args ...string) (string, error) {
	t.Helper()
	c := testenv.Cluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binaries(t).Kubectl,
		append([]string{"--kubeconfig", c.Kubeconfig, "--context", devcluster.AdminUser, "--cache-dir", t.TempDir()}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func admin(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(testenv.Cluster(t).RESTConfig(devcluster.AdminUser))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
