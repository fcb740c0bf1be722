package storm

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options describe a storm.
type Options struct {
	Program  string        // launched with argv [Name]
	Name     string        // argv[0]; default "true"
	Rate     int           // launches per second; 0: as fast as it goes
	Duration time.Duration // how long to launch
	// Every Mark-th launch (0: none) runs Marked instead, with the argv
	// MarkArgs returns (given the launch time): a launch a rule alerts on.
	Mark     int
	Marked   string
	MarkArgs func(at time.Time) []string
	// Launchers launch concurrently; default 2 (a fork blocks its thread
	// until the child execs).
	Launchers int
}

// Result is what a storm did.
type Result struct {
	Launched int64
	Elapsed  time.Duration // from the first launch until the last process was reaped
}

// Rate is the launches per second achieved.
func (r Result) Rate() float64 { return float64(r.Launched) / r.Elapsed.Seconds() }

// Run launches the storm; each launcher waits for its process before the
// next, so every launched process is reaped when it returns.
func Run(o Options) Result {
	if o.Name == "" {
		o.Name = "true"
	}
	if o.Launchers <= 0 {
		o.Launchers = 2
	}
	attr := &syscall.ProcAttr{Env: []string{}}
	var launched, due atomic.Int64
	launch := func() {
		n := launched.Add(1)
		path, argv := o.Program, []string{o.Name}
		if o.Mark > 0 && n%int64(o.Mark) == 0 {
			path, argv = o.Marked, o.MarkArgs(time.Now())
		}
		pid, err := syscall.ForkExec(path, argv, attr)
		if err != nil {
			launched.Add(-1)
			return
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
	}
	start := time.Now()
	end := start.Add(o.Duration)
	var wg sync.WaitGroup
	for range o.Launchers {
		wg.Go(func() {
			for now := time.Now(); now.Before(end); now = time.Now() {
				if o.Rate <= 0 {
					launch()
					continue
				}
				// Paced: launch while behind the schedule, else sleep a little.
				target := int64(now.Sub(start).Seconds() * float64(o.Rate))
				if d := due.Load(); d < target && due.CompareAndSwap(d, d+1) {
					launch()
					continue
				}
				time.Sleep(100 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	return Result{Launched: launched.Load(), Elapsed: time.Since(start)}
}
