package sensor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"quell.dev/quell/internal/sensor/bpf"
)

// Sensor watches the node's kernel and evaluates rules on what it sees.
type Sensor struct {
	opts    Options
	metrics *metrics
	ready   chan struct{}
	loaded  atomic.Pointer[bpf.Loaded]
	procs   atomic.Int64
	queued  atomic.Int64 // events handed to the pipeline, not yet processed
	started atomic.Bool
}

// New checks opts and returns a sensor; Start runs it.
func New(opts Options) (*Sensor, error) {
	if opts.Engine == nil {
		return nil, errors.New("sensor: Engine is required")
	}
	if opts.Output == nil {
		return nil, errors.New("sensor: Output is required")
	}
	opts.setDefaults()
	if opts.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("hostname: %w", err)
		}
		opts.Hostname = h
	}
	if opts.Node == "" {
		opts.Node = opts.Hostname
	}
	s := &Sensor{opts: opts, ready: make(chan struct{})}
	s.metrics = newMetrics(opts.Registry, s.kernelLost, func() float64 { return float64(s.procs.Load()) }, s.RunStats)
	return s, nil
}

// Ready is closed once the programs are attached and the process table is
// seeded: events from then on are seen.
func (s *Sensor) Ready() <-chan struct{} { return s.ready }

// RunStats returns the kernel's accounting of the running programs (zero
// unless BPF statistics are enabled); nil when not started.
func (s *Sensor) RunStats() []bpf.RunStat {
	if l := s.loaded.Load(); l != nil {
		return l.RunStats()
	}
	return nil
}

func (s *Sensor) kernelLost() float64 {
	l := s.loaded.Load()
	if l == nil {
		return 0
	}
	n, err := l.Lost()
	if err != nil {
		return 0
	}
	return float64(n)
}

// batch is records read together from the ring buffer, on their way to
// the pipeline: their bytes back to back, ends[i] the end of record i.
// Handing over batches rather than records keeps goroutine wakeups per
// wakeup of the reader, not per event.
type batch struct {
	buf  []byte
	ends []int
}

// maxBatch bounds the records in one batch.
const maxBatch = 256

// Start loads the kernel programs and processes events until ctx is done.
// It fails at once when the programs cannot be loaded (not root, no BTF,
// ...; see package bpf). A Sensor can be started once.
func (s *Sensor) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("sensor: already started")
	}
	log := s.opts.Log
	l, err := bpf.Load()
	if err != nil {
		return fmt.Errorf("load eBPF programs: %w", err)
	}
	defer l.Close()
	s.loaded.Store(l)
	defer s.loaded.Store(nil)
	for name, err := range l.Failed {
		log.Warn("eBPF program unavailable: its events are not seen", "program", name, "err", err)
	}
	for name, err := range l.Degraded {
		log.Warn("eBPF program running in a fallback variant", "program", name, "err", err)
	}
	rd, err := l.NewReader()
	if err != nil {
		return err
	}
	ready, err := l.EventsFile()
	if err != nil {
		rd.Close()
		return err
	}

	p, err := newPipeline(s)
	if err != nil {
		rd.Close()
		ready.Close()
		return err
	}
	n, err := p.table.Seed()
	if err != nil {
		log.Warn("seed process table", "err", err)
	}
	s.procs.Store(int64(p.table.Len()))
	// Loading decoded the kernel's BTF (tens of MB, now garbage): give it
	// back to the system rather than keep it in the sensor's RSS.
	debug.FreeOSMemory()
	log.Info("sensor started", "programs", l.Attached, "processes", n, "node", s.opts.Node)

	pool := sync.Pool{New: func() any { return &batch{buf: make([]byte, 0, 64<<10), ends: make([]int, 0, maxBatch)} }}
	queue := make(chan *batch, s.opts.QueueSize)
	var wg sync.WaitGroup
	var stop atomic.Bool
	wg.Go(func() { s.read(rd, ready, &stop, queue, &pool) })
	defer func() {
		// Stop the reader before closing the ring buffer it reads.
		stop.Store(true)
		ready.Close() // ends its wait
		wg.Wait()
		rd.Close()
	}()
	close(s.ready)
	return p.run(ctx, queue, &pool)
}

// idlePoll is how long the reader waits when no records have come for
// activeFor; the kernel wakes it for the next record anyway. A drain that
// brought fewer than lowBatch records is a trickle: the reader sleeps
// twice the poll interval before the next.
const (
	lowBatch  = 64
	idlePoll  = 250 * time.Millisecond
	activeFor = 100 * time.Millisecond
)

// past is a deadline that makes ringbuf reads return at once.
var past = time.Unix(1, 0)

// read moves records from the ring buffer to queue, dropping (and
// counting) when the queue is full. It returns when stop is set and ready
// is closed.
//
// It drains the ring buffer without blocking. When the drain brought
// records it sleeps PollInterval (twice that for a trickle) and drains
// again, leaving the kernel's wakeups meanwhile unanswered: under load one
// wakeup of the Go scheduler then covers many records. When a drain
// brought none it waits on ready through Go's network poller until the
// kernel wakes it (at once for a lone record, else at most every 10ms) or
// the poll interval ends; after activeFor without records it waits
// idlePoll, a safety net.
func (s *Sensor) read(rd *ringbuf.Reader, ready *os.File, stop *atomic.Bool, queue chan<- *batch, pool *sync.Pool) {
	conn, err := ready.SyscallConn()
	if err != nil {
		s.opts.Log.Error("ring buffer wait", "err", err)
		return
	}
	rd.SetDeadline(past)
	var rec ringbuf.Record
	b := pool.Get().(*batch)
	flush := func() {
		if len(b.ends) == 0 {
			return
		}
		n := int64(len(b.ends))
		// QueueSize bounds events, not batches.
		if s.queued.Add(n) > int64(s.opts.QueueSize) {
			s.queued.Add(-n)
			s.metrics.queueDrops.Add(float64(n))
			b.buf, b.ends = b.buf[:0], b.ends[:0]
			return
		}
		select {
		case queue <- b:
			b = pool.Get().(*batch)
		default:
			s.queued.Add(-n)
			s.metrics.queueDrops.Add(float64(n))
			b.buf, b.ends = b.buf[:0], b.ends[:0]
		}
	}
	lastData := time.Now()
	for !stop.Load() {
		// Drain what is there.
		got := 0
		for !stop.Load() {
			// Read straight into the batch's spare capacity when it fits.
			rec.RawSample = b.buf[len(b.buf):cap(b.buf)]
			err := rd.ReadInto(&rec)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			if err != nil {
				if errors.Is(err, ringbuf.ErrClosed) {
					return
				}
				s.opts.Log.Warn("read ring buffer", "err", err)
				break
			}
			lastData = time.Time{}
			got++
			b.buf = append(b.buf, rec.RawSample...) // no copy when read in place
			b.ends = append(b.ends, len(b.buf))
			if len(b.ends) >= maxBatch {
				flush()
			}
		}
		flush()
		if got > 0 {
			// Records flow: come back after the poll interval, whatever
			// wakeups the kernel sends meanwhile, and drain again; each
			// wakeup costs more than the records it would bring. A
			// trickle (fewer than lowBatch records a drain) waits twice
			// as long: its latency is the wait, and halving the wakeups
			// halves what it costs.
			wait := s.opts.PollInterval
			if got < lowBatch {
				wait *= 2
			}
			time.Sleep(wait)
			continue
		}

		// Wait for a wakeup or the end of the poll interval.
		now := time.Now()
		if lastData.IsZero() {
			lastData = now
		}
		wait := idlePoll
		if now.Sub(lastData) < activeFor {
			wait = s.opts.PollInterval
		}
		ready.SetReadDeadline(now.Add(wait))
		first := true
		err := conn.Read(func(uintptr) bool {
			if first {
				first = false
				return rd.AvailableBytes() > 0
			}
			return true
		})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return // closed
		}
	}
}
