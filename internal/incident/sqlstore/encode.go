package sqlstore

import (
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"quell.dev/quell/internal/incident"
)

// encodeChunk is the fewest alerts worth a goroutine of their own.
const encodeChunk = 128

// encoding is the JSON of a batch of alerts, made in the background.
type encoding struct {
	wg   sync.WaitGroup
	data []string
	errs []error // per worker
}

// encodeAlerts starts encoding alerts as timeline data, an alert with a
// zero time as if it happened at now, on up to GOMAXPROCS goroutines.
func encodeAlerts(alerts []incident.Alert, now time.Time) *encoding {
	e := &encoding{data: make([]string, len(alerts))}
	workers := min(runtime.GOMAXPROCS(0), (len(alerts)+encodeChunk-1)/encodeChunk)
	workers = max(workers, 1)
	e.errs = make([]error, workers)
	per := (len(alerts) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, len(alerts))
		e.wg.Go(func() { e.errs[w] = e.encode(alerts, lo, hi, now) })
	}
	return e
}

func (e *encoding) encode(alerts []incident.Alert, lo, hi int, now time.Time) error {
	for i := lo; i < hi; i++ {
		a := &alerts[i]
		if a.Time.IsZero() {
			c := *a
			c.Time = now
			a = &c
		}
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("alert %d: encode: %w", i, err)
		}
		e.data[i] = string(b)
	}
	return nil
}

// wait returns the encoded alerts or the first error; it may be called
// more than once.
func (e *encoding) wait() ([]string, error) {
	e.wg.Wait()
	for _, err := range e.errs {
		if err != nil {
			return nil, err
		}
	}
	return e.data, nil
}
