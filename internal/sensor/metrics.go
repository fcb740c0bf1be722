package sensor

import (
	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/sensor/bpf"
)

// metrics are the pipeline's counters.
type metrics struct {
	execs, exits, connects prometheus.Counter
	queueDrops             prometheus.Counter
	decodeErrors           prometheus.Counter
	matches                prometheus.Counter
	podTimeouts            prometheus.Counter
	pending                prometheus.Gauge
}

// runStatsCollector exports the kernel's accounting of the programs.
type runStatsCollector struct {
	stats        func() []bpf.RunStat
	seconds, run *prometheus.Desc
}

func (c *runStatsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.seconds; ch <- c.run }

func (c *runStatsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, st.Runtime.Seconds(), st.Program)
		ch <- prometheus.MustNewConstMetric(c.run, prometheus.CounterValue, float64(st.Runs), st.Program)
	}
}

func newMetrics(reg prometheus.Registerer, kernelLost func() float64, procs func() float64, stats func() []bpf.RunStat) *metrics {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quell_sensor_events_total",
		Help: "Kernel events read by the pipeline, by kind."}, []string{"kind"})
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quell_sensor_events_dropped_total",
		Help: "Kernel events lost: stage=queue when the pipeline queue was full (the ring buffer reader never waits)."},
		[]string{"stage"})
	m := &metrics{
		execs: events.WithLabelValues("exec"), exits: events.WithLabelValues("exit"),
		connects:   events.WithLabelValues("connect"),
		queueDrops: dropped.WithLabelValues("queue"),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_decode_errors_total",
			Help: "Ring buffer records that could not be decoded."}),
		matches: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_rule_matches_total",
			Help: "Rule matches (alerts produced)."}),
		podTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "quell_sensor_pod_wait_timeouts_total",
			Help: "Container events evaluated without pod metadata because their pod did not appear in time."}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "quell_sensor_events_waiting_for_pod",
			Help: "Container events waiting for their pod to be known."}),
	}
	if reg != nil {
		reg.MustRegister(events, dropped, m.decodeErrors, m.matches, m.podTimeouts, m.pending,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quell_sensor_kernel_events_lost_total",
				Help: "Kernel events dropped in the kernel because the ring buffer was full."}, kernelLost),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quell_sensor_processes",
				Help: "Processes in the process table."}, procs),
			&runStatsCollector{stats: stats,
				seconds: prometheus.NewDesc("quell_sensor_bpf_run_seconds_total",
					"Time spent in the sensor's kernel programs (needs sysctl kernel.bpf_stats_enabled=1).", []string{"program"}, nil),
				run: prometheus.NewDesc("quell_sensor_bpf_runs_total",
					"Runs of the sensor's kernel programs (needs sysctl kernel.bpf_stats_enabled=1).", []string{"program"}, nil)})
	}
	return m
}
