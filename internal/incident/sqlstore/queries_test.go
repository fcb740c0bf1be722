package sqlstore

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPieces(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 7, 99, 100, 101, 164, 255, 1000} {
		rows := make([]int, n)
		for i := range rows {
			rows[i] = i
		}
		var got []int
		var lens []int
		for p := range pieces(rows, 100) {
			got = append(got, p...)
			lens = append(lens, len(p))
		}
		if len(rows) == 0 {
			rows = nil
		}
		if diff := cmp.Diff(rows, got); diff != "" {
			t.Errorf("pieces of %d rows (-want +got):\n%s", n, diff)
		}
		for _, l := range lens {
			if !slices.Contains(sizes(100), l) {
				t.Errorf("pieces of %d rows: run of %d, not one of %v", n, l, sizes(100))
			}
		}
	}
}
