package devcluster

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// TestCachedBuild builds a one-file module: once, then from the cache, and
// again when the recipe changes; a module that does not compile is
// ErrNoBinaries.
func TestCachedBuild(t *testing.T) {
	tools := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(tools, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.26\n")
	write("main.go", "package main\n\nvar greeting = \"hello\"\n\nfunc main() { println(greeting) }\n")
	b := cachedBuild{dir: t.TempDir(), module: "hello", toolsDir: tools, ldflags: "-X main.greeting=hi",
		packages: []string{"example.com/hello"}, log: slog.New(slog.DiscardHandler)}
	if b.present() {
		t.Fatal("present before the first build")
	}
	if err := b.ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	first, err := os.Stat(b.path("example.com/hello"))
	if err != nil || !b.present() {
		t.Fatalf("not cached after a build: %v", err)
	}
	if err := b.ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Stat(b.path("example.com/hello")); !os.SameFile(first, again) {
		t.Error("rebuilt although cached")
	}
	b.ldflags = "-X main.greeting=hey"
	if b.present() {
		t.Error("present with another recipe")
	}
	write("main.go", "package main\n\nfunc main() { undefined() }\n")
	if err := b.ensure(t.Context()); !errors.Is(err, ErrNoBinaries) {
		t.Errorf("build of a broken module: %v, want ErrNoBinaries", err)
	}
}
