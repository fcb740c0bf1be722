package sensor

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/rules"
)

// Output receives alerts. Send must not block: an output that cannot keep
// up drops and counts.
type Output interface {
	Send(a *Alert)
}

// PodLookup finds the pod of a container; *kubemeta.PodCache implements
// it.
type PodLookup interface {
	Lookup(containerID string) (kubemeta.Pod, bool)
	// Changed receives after pods were added or updated.
	Changed() <-chan struct{}
}

// Options configure a Sensor. Zero values mean the documented defaults.
type Options struct {
	// Engine evaluates events; required.
	Engine *rules.Engine
	// Output receives alerts; required.
	Output Output
	// Pods attributes containers to pods; nil: no pod metadata, and no
	// event waits for a pod.
	Pods PodLookup
	// Hostname is evt.hostname and the alerts' hostname; default
	// os.Hostname().
	Hostname string
	// Node is the Kubernetes node name put on alert targets; default
	// Hostname.
	Node string
	// Log receives the sensor's logs; default slog.Default().
	Log *slog.Logger
	// Registry receives the sensor's metrics; nil: not exported.
	Registry prometheus.Registerer
	// QueueSize bounds the events waiting between the ring buffer reader
	// and the pipeline; default 4096 (a few MB).
	QueueSize int
	// PodWait is how long an event from a container whose pod is not yet
	// known waits for it before being evaluated without pod metadata;
	// default 10s.
	PodWait time.Duration
	// MaxPending bounds the events waiting for their pod; when full, the
	// oldest is evaluated without pod metadata (never dropped). Default
	// 8192.
	MaxPending int
	// PollInterval is how often the ring buffer is checked while records
	// flow (the kernel then wakes the reader at most every 10ms); it
	// bounds the delay an event adds under load. Default 10ms.
	PollInterval time.Duration
	// MaxProcs bounds the process table; default 65536.
	MaxProcs int
	// ProcRoot is where procfs is mounted; default /proc.
	ProcRoot string
	// Tap, when set, is called on the pipeline goroutine with every
	// decoded event before rules are evaluated (tests and debugging). It
	// must not block or keep the event.
	Tap func(*Event)
}

func (o *Options) setDefaults() {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 4096
	}
	if o.PodWait <= 0 {
		o.PodWait = 10 * time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 8192
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 10 * time.Millisecond
	}
	if o.MaxProcs <= 0 {
		o.MaxProcs = 65536
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
}
