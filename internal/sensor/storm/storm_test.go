package storm_test

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"quell.dev/quell/internal/sensor/storm"
)

func TestNopRunsAndExitsZero(t *testing.T) {
	p, err := storm.Nop(t.TempDir(), "true")
	if errors.Is(err, storm.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(p, "ignored", "args").CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Fatalf("run %s: %v, output %q; want exit 0 and no output", p, err, out)
	}
	if out, err := exec.Command("file", p).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("file says %q, want a static executable", out)
	}
}

func TestRunPacedAndMarked(t *testing.T) {
	dir := t.TempDir()
	nop, err := storm.Nop(dir, "true")
	if errors.Is(err, storm.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	marked, err := storm.Nop(dir, "nc")
	if err != nil {
		t.Fatal(err)
	}
	var marks int
	r := storm.Run(storm.Options{Program: nop, Rate: 400, Duration: 500 * time.Millisecond, Mark: 10, Marked: marked,
		MarkArgs: func(at time.Time) []string { marks++; return []string{"nc", at.Format(time.RFC3339Nano)} }, Launchers: 1})
	// Paced: never ahead of the schedule (400/s for 0.5s is at most 200).
	if r.Launched == 0 || r.Launched > 200 {
		t.Errorf("launched %d at 400/s for 0.5s, want 1 to 200", r.Launched)
	}
	if want := int(r.Launched / 10); marks != want {
		t.Errorf("%d marked launches of %d, want every 10th: %d", marks, r.Launched, want)
	}
}
