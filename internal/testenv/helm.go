package testenv

import (
	"context"
	"testing"
	"time"

	"quell.dev/quell/internal/devcluster"
)

// Helm returns the path of the pinned helm, building it once (cached and
// shared by every package), or skips the test when it cannot be built
// (failing instead under CI).
func Helm(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p, err := devcluster.EnsureHelm(ctx, devcluster.HelmOptions{})
	if err != nil {
		SkipOrFail(t, err)
	}
	return p
}
