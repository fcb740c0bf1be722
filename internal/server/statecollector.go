package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/incident"
)

// stateCollector exports quell_incidents{state}, read from the store at
// scrape time so that every server sharing a database reports the same.
type stateCollector struct {
	store incident.Store
	desc  *prometheus.Desc
}

func newStateCollector(store incident.Store) *stateCollector {
	return &stateCollector{store: store, desc: prometheus.NewDesc("quell_incidents", "Incidents by state.", []string{"state"}, nil)}
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector. A store error reports nothing
// (the scrape then lacks the series rather than showing zeros).
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.CountByState(ctx)
	if err != nil {
		return
	}
	for _, st := range incident.States() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}
