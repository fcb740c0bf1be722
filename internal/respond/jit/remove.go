package jit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

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

// remove deletes refs, bindings first, then reads each back. Deletion
// errors are joined; objects still there are reported in Remaining and
// make the error wrap ErrRemaining.
func remove(ctx context.Context, cs kubernetes.Interface, refs []respond.ObjectRef) (Report, error) {
	refs = slices.Clone(refs)
	slices.SortStableFunc(refs, func(a, b respond.ObjectRef) int { return cmp.Compare(deleteOrder[a.Kind], deleteOrder[b.Kind]) })
	var (
		rep  Report
		errs []error
	)
	for _, r := range refs {
		deleted, err := deleteObject(ctx, cs, r)
		if err != nil {
			errs = append(errs, err)
		}
		if deleted {
			rep.Deleted = append(rep.Deleted, r)
		}
	}
	for _, r := range refs {
		there, err := exists(ctx, cs, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("verify: %w", err))
			there = true // unknown counts as remaining
		}
		if there {
			rep.Remaining = append(rep.Remaining, r)
		}
	}
	if len(rep.Remaining) > 0 {
		errs = append(errs, fmt.Errorf("%w: %v", ErrRemaining, rep.Remaining))
	}
	return rep, errors.Join(errs...)
}
