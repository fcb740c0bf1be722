package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Generated keeps files committed under dir equal to what the code
// generates (want, by path relative to dir). With update it writes them,
// creating directories; otherwise it fails the test for each file that
// differs, with the diff and regen, the command that rewrites them.
func Generated(t testing.TB, dir string, want map[string][]byte, update bool, regen string) {
	t.Helper()
	for name, body := range want {
		path := filepath.Join(dir, name)
		if update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v; run %s", err, regen)
			continue
		}
		if diff := cmp.Diff(string(body), string(got)); diff != "" {
			t.Errorf("%s differs from its generated form (-generated +file); run %s:\n%s", path, regen, diff)
		}
	}
}
