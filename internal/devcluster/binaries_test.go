package devcluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestToolsModulePinsVersion keeps tools/k8s/go.mod and KubernetesVersion in
// step: the cache is keyed by the constant, the build by the module.
func TestToolsModulePinsVersion(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "tools", "k8s", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod := string(data)
	if !strings.Contains(mod, "require k8s.io/kubernetes "+KubernetesVersion+"\n") {
		t.Errorf("tools/k8s/go.mod does not require k8s.io/kubernetes %s", KubernetesVersion)
	}
	staging := "v0" + strings.TrimPrefix(KubernetesVersion, "v1")
	for _, line := range strings.Split(mod, "\n") {
		if strings.Contains(line, "=>") && !strings.HasSuffix(strings.TrimSpace(line), staging) {
			t.Errorf("replace line %q does not pin %s", strings.TrimSpace(line), staging)
		}
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := freePorts(16)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: %d repeated or invalid", ports, p)
		}
		seen[p] = true
	}
}

func TestProcessIdentity(t *testing.T) {
	p := &process{Name: "self", PID: os.Getpid()}
	var err error
	if p.StartTime, err = procStartTime(p.PID); err != nil {
		t.Fatal(err)
	}
	if !p.alive() {
		t.Fatal("own process not alive")
	}
	p.StartTime++ // a recycled pid has another start time
	if p.alive() {
		t.Fatal("process with another start time counted as alive")
	}
}

// TestHelmModulePinsVersion keeps tools/helm/go.mod and HelmVersion in
// step, as TestToolsModulePinsVersion does for Kubernetes.
func TestHelmModulePinsVersion(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "tools", "helm", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "require helm.sh/helm/v4 "+HelmVersion+"\n") {
		t.Errorf("tools/helm/go.mod does not require helm.sh/helm/v4 %s", HelmVersion)
	}
}
