package jit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/respond"
)

// ErrRemaining is returned (wrapped) when objects are still there after
// they were deleted.
var ErrRemaining = errors.New("jit credentials remain")

// Report proves a release or a sweep.
type Report struct {
	// Deleted are the objects this call deleted.
	Deleted []respond.ObjectRef `json:"deleted,omitempty"`
	// Remaining are objects read back after the deletes; a complete
	// release or sweep leaves none.
	Remaining []respond.ObjectRef `json:"remaining,omitempty"`
	// Kept are objects Sweep left because their lease has not expired.
	Kept []respond.ObjectRef `json:"kept,omitempty"`
}

// remove deletes refs, the bindings first (together), then the roles and
// ServiceAccounts (together), then reads each back (together). Deletion
// errors are joined; objects still there are reported in Remaining and
// make the error wrap ErrRemaining.
func remove(ctx context.Context, cs kubernetes.Interface, refs []respond.ObjectRef) (Report, error) {
	refs = slices.Clone(refs)
	slices.SortStableFunc(refs, func(a, b respond.ObjectRef) int { return cmp.Compare(deleteOrder[a.Kind], deleteOrder[b.Kind]) })
	deleted, there := make([]bool, len(refs)), make([]bool, len(refs))
	errs := make([]error, 2*len(refs))
	var wg sync.WaitGroup
	for _, bindings := range []bool{true, false} {
		for i, r := range refs {
			if isBinding(r.Kind) == bindings {
				wg.Go(func() { deleted[i], errs[i] = deleteObject(ctx, cs, r) })
			}
		}
		wg.Wait()
	}
	for i, r := range refs {
		wg.Go(func() {
			var err error
			if there[i], err = exists(ctx, cs, r); err != nil {
				errs[len(refs)+i] = fmt.Errorf("verify: %w", err)
				there[i] = true // unknown counts as remaining
			}
		})
	}
	wg.Wait()
	var rep Report
	for i, r := range refs {
		if deleted[i] {
			rep.Deleted = append(rep.Deleted, r)
		}
		if there[i] {
			rep.Remaining = append(rep.Remaining, r)
		}
	}
	if len(rep.Remaining) > 0 {
		errs = append(errs, fmt.Errorf("%w: %v", ErrRemaining, rep.Remaining))
	}
	return rep, errors.Join(errs...)
}

func isBinding(kind string) bool { return kind == "RoleBinding" || kind == "ClusterRoleBinding" }
