package deploy_test

import (
	"flag"
	"path/filepath"
	"slices"
	"testing"

	"quell.dev/quell/internal/deploy"
	"quell.dev/quell/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the chart's generated files from the code")

const chartDir = "../../deploy/helm/quell"

// TestChartFiles keeps the chart's files/ what the code generates.
func TestChartFiles(t *testing.T) {
	files, err := deploy.ChartFiles()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Generated(t, chartDir, files, *update, "go test ./internal/deploy -run TestChartFiles -update")
	// A file the generator no longer writes would still be included.
	rbac, err := filepath.Glob(filepath.Join(chartDir, "files", "rbac", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rbac {
		rel, _ := filepath.Rel(chartDir, p)
		if _, ok := files[rel]; !ok && !*update {
			t.Errorf("%s is not generated any more: delete it", p)
		}
	}
}

// TestGrantsCannotEscalate: no grant lets quell give itself more.
func TestGrantsCannotEscalate(t *testing.T) {
	for _, g := range deploy.Grants() {
		if len(g.Rules) == 0 {
			t.Errorf("%s: no rules", g.Name)
		}
		for _, r := range g.Rules {
			for _, v := range r.Verbs {
				if slices.Contains([]string{"escalate", "bind", "impersonate", "*"}, v) {
					t.Errorf("%s grants %s on %v", g.Name, v, r.Resources)
				}
			}
			if slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") || len(r.NonResourceURLs) > 0 {
				t.Errorf("%s: wildcard or non-resource rule %+v", g.Name, r)
			}
			if slices.Contains(r.Resources, "secrets") {
				t.Errorf("%s reads or writes secrets: %+v", g.Name, r)
			}
		}
	}
}

// TestSensorWritesNothing: the sensor's grants only read.
func TestSensorWritesNothing(t *testing.T) {
	for _, g := range deploy.Grants() {
		if g.Subject != deploy.Sensor {
			continue
		}
		for _, r := range g.Rules {
			for _, v := range r.Verbs {
				if !slices.Contains([]string{"get", "list", "watch"}, v) {
					t.Errorf("%s: the sensor may %s %v", g.Name, v, r.Resources)
				}
			}
		}
	}
}
