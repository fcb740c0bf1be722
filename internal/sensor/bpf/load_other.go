//go:build !linux

package bpf

import (
	"errors"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"
)

// ErrPermission and ErrNoBTF exist on every platform for errors.Is.
var (
	ErrPermission = errors.New("loading eBPF programs needs root, or CAP_BPF and CAP_PERFMON")
	ErrNoBTF      = errors.New("kernel BTF is missing")
)

// Program names.
const (
	ProgExec    = "exec"
	ProgExit    = "exit"
	ProgConnect = "connect"
)

// Loaded is never returned on this platform.
type Loaded struct {
	Attached []string
	Failed   map[string]error
	Degraded map[string]error
}

// Load fails: the sensor needs Linux.
func Load() (*Loaded, error) { return nil, errors.New("the sensor needs Linux") }

// Has reports nothing attached.
func (l *Loaded) Has(string) bool { return false }

// NewReader fails on this platform.
func (l *Loaded) NewReader() (*ringbuf.Reader, error) {
	return nil, errors.New("the sensor needs Linux")
}

// EventsFile fails on this platform.
func (l *Loaded) EventsFile() (*os.File, error) { return nil, errors.New("the sensor needs Linux") }

// RunStat is a program's run statistics.
type RunStat struct {
	Program string
	Runtime time.Duration
	Runs    uint64
}

// RunStats is empty on this platform.
func (l *Loaded) RunStats() []RunStat { return nil }

// Lost is always zero on this platform.
func (l *Loaded) Lost() (uint64, error) { return 0, nil }

// Close does nothing.
func (l *Loaded) Close() error { return nil }
