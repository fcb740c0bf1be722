package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	p50, p99 := percentiles(ds)
	if p50 != 51*time.Millisecond || p99 != 100*time.Millisecond {
		t.Errorf("p50 %s p99 %s, want 51ms 100ms", p50, p99)
	}
	if p50, p99 := percentiles(nil); p50 != 0 || p99 != 0 {
		t.Errorf("empty: %s %s", p50, p99)
	}
}

// TestRules measures both events briefly: the no-match event matches
// nothing and the tool event matches (Rules checks both), at a rate.
func TestRules(t *testing.T) {
	rs, err := Rules(t.Context(), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Print(&b, rs); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"rules: exec events/s, no match", "rules: exec events/s, a match", "built-in rules, one goroutine"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if len(rs) != 2 || strings.HasPrefix(rs[0].Value, "0/") {
		t.Errorf("results = %+v", rs)
	}
}
