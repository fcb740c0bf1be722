package demo_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"quell.dev/quell/internal/demo"
	"quell.dev/quell/internal/devcluster"
	"quell.dev/quell/internal/testenv"
)

// TestDemoPlaysToTheEnd runs the whole demo as `make demo DEMO_FLAGS=--exit`
// does and checks each step of the story was told.
func TestDemoPlaysToTheEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no control plane")
	}
	b := testenv.Binaries(t)
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "demo")
	opts := demo.Options{Dir: dir, Exit: true, Out: &out, Build: devcluster.BuildOptions{BinDir: filepath.Dir(b.APIServer)}}
	hostWant := "replaying the alert it sends"
	if os.Geteuid() == 0 { // the real sensor, as `quell dev demo` runs it as root
		bin := filepath.Join(t.TempDir(), "quell")
		if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/quell").CombinedOutput(); err != nil {
			t.Fatalf("build quell: %v\n%s", err, out)
		}
		opts.Sensor, hostWant = []string{bin}, "ran `nc -lvp 4444` on the host"
	}
	err := demo.Run(t.Context(), opts)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"quell server ready",
		hostWant,
		"Launch Suspicious Network Tool on Host",
		"cordon-node Node/demo-node",
		"node demo-node unschedulable: true",
		"node demo-node unschedulable: false",
		"after the API call",
		"Create Privileged Pod",
		"who: alice (from the audit event)",
		"investigation of pod demo/debug-shell: risk",
		"created by alice",
		"Known Cryptominer Process Executed on Deployment demo/miner",
		"suspend-workload Deployment/demo/miner",
		"is contained",
		"Deployment demo/miner: 0 replicas, 0 pods",
		"the Deployment is back to 3 pods",
		"pod demo/toolbox: untouched",
		"CronJob demo/report: untouched",
		"Deployment kube-system/metrics-agent: untouched",
		"tearing the control plane down",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "cluster", "state.json")); !os.IsNotExist(err) {
		t.Errorf("demo left its cluster behind: %v", err)
	}
}
