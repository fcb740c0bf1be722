// Package bench measures quell's headline figures on this machine, for
// `quell bench`: events per second through the rules, alerts per second
// through ingest, alert → contained for terminate and for suspend through
// the whole server on the local control plane, and the sensor's exec
// events per second with its CPU cost. Each figure is also measured by a
// Go benchmark of its own package (BENCHMARKS.md gives the commands);
// these runs are for reproducing the numbers with one command.
package bench

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"
)

// Result is one measured figure.
type Result struct {
	Figure string // e.g. "rules: exec events/s (no match, one goroutine)"
	Value  string
	Detail string
}

// Print writes results as a table.
func Print(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tDETAIL")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Figure, r.Value, r.Detail)
	}
	return tw.Flush()
}

// percentiles returns the p50 and p99 of ds (sorted in place).
func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func perSecond(n int, d time.Duration) string { return fmt.Sprintf("%.0f/s", float64(n)/d.Seconds()) }
