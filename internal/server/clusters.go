package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"quell.dev/quell/internal/incident"
)

// Cluster is what the server routes to one cluster: the alerts that name
// it (or arrive for it) and the incidents whose target is in it. Only
// Name is required; a cluster without the rest has its alerts recorded
// and nothing resolved, investigated or acted on.
type Cluster struct {
	Name string
	// Resolve, when set, refines a pod target into its workload. It must
	// return soon after its context is done; the server bounds each
	// batch's resolutions by Options.ResolveTimeout.
	Resolve func(ctx context.Context, t incident.Target) incident.Target
	// Sink gets this cluster's alerts of every committed batch (its
	// response engine).
	Sink Sink
	// Responder is the cluster's response engine; nil answers 501 to
	// restore, approve, veto and manual responses for it.
	Responder Responder
	// Investigator builds reports on the cluster's pods; nil: only
	// stored ones are served.
	Investigator Investigator
	// AuditObservers see every audit event of this cluster, once.
	AuditObservers []AuditObserver
	// Up, when set, says whether the cluster answers now; /readyz and
	// quell_cluster_up show it.
	Up func() bool
}

// clusterParam is the query parameter naming an alert's cluster.
const clusterParam = "cluster"

// router finds clusters by name.
type router struct {
	byName map[string]*Cluster
	names  []string // sorted
	def    *Cluster
}

func newRouter(cs []Cluster, def string) (*router, error) {
	r := &router{byName: map[string]*Cluster{}}
	var errs []error
	for i := range cs {
		c := &cs[i]
		switch _, dup := r.byName[c.Name]; {
		case c.Name == "":
			errs = append(errs, fmt.Errorf("cluster %d has no name", i))
		case dup:
			errs = append(errs, fmt.Errorf("cluster %s is configured twice", c.Name))
		default:
			r.byName[c.Name] = c
			r.names = append(r.names, c.Name)
		}
	}
	slices.Sort(r.names)
	if len(cs) > 0 {
		r.def = &cs[0]
	}
	if def != "" {
		if r.def = r.byName[def]; r.def == nil {
			errs = append(errs, fmt.Errorf("default cluster %s is not configured", def))
		}
	}
	return r, errors.Join(errs...)
}

// responds reports whether any cluster has a responder.
func (r *router) responds() bool {
	for _, c := range r.byName {
		if c.Responder != nil {
			return true
		}
	}
	return false
}

// get returns the cluster named name, or nil.
func (r *router) get(name string) *Cluster { return r.byName[name] }

// known lists the clusters' names for messages.
func (r *router) known() string { return strings.Join(r.names, ", ") }

// lookup returns the cluster named name (the default when empty), or a
// 400 naming where the name came from and the clusters known.
func (r *router) lookup(name, where string) (*Cluster, error) {
	if name == "" {
		return r.def, nil
	}
	if c := r.byName[name]; c != nil {
		return c, nil
	}
	return nil, badRequest(fmt.Sprintf("%s: %q is not a cluster this server serves (known: %s)", where, name, r.known()), where)
}

// fromQuery returns the cluster of the request's ?cluster=, else the
// default.
func (r *router) fromQuery(req *http.Request) (*Cluster, error) {
	return r.lookup(req.URL.Query().Get(clusterParam), "query parameter "+clusterParam)
}

// incidentCluster returns the cluster of an incident, or a 409 when this
// server does not serve it.
func (r *router) incidentCluster(inc *incident.Incident) (*Cluster, error) {
	if c := r.byName[inc.Target.Cluster]; c != nil {
		return c, nil
	}
	return nil, &apiError{Status: http.StatusConflict, Code: "unknown_cluster",
		Message: fmt.Sprintf("incident %d is of cluster %q, which this server does not serve (known: %s)", inc.ID, inc.Target.Cluster, r.known())}
}

// resolve refines the pod targets of alerts into their workloads with
// their clusters' Resolve, each cluster's concurrently and within
// ResolveTimeout: a cluster that does not answer leaves its targets
// pods and delays no other cluster's. A target is resolved once per call.
func (s *Server) resolve(ctx context.Context, alerts []incident.Alert) {
	var groups map[*Cluster][]int
	for i := range alerts {
		t := &alerts[i].Target
		if t.Kind != incident.TargetPod {
			continue
		}
		if c := s.clusters.get(t.Cluster); c != nil && c.Resolve != nil {
			if groups == nil {
				groups = map[*Cluster][]int{}
			}
			groups[c] = append(groups[c], i)
		}
	}
	var wg sync.WaitGroup
	for c, idx := range groups {
		if len(groups) == 1 {
			s.resolveOne(ctx, c, alerts, idx)
			break
		}
		wg.Go(func() { s.resolveOne(ctx, c, alerts, idx) }) // each writes its own alerts only
	}
	wg.Wait()
}

func (s *Server) resolveOne(ctx context.Context, c *Cluster, alerts []incident.Alert, idx []int) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ResolveTimeout)
	defer cancel()
	done := make(map[incident.Target]incident.Target, 4)
	for _, i := range idx {
		t := alerts[i].Target
		r, ok := done[t]
		if !ok {
			r = t
			if ctx.Err() == nil {
				r = c.Resolve(ctx, t)
			}
			done[t] = r
		}
		alerts[i].Target = r
	}
	if ctx.Err() != nil {
		s.metrics.resolveTimeouts.WithLabelValues(c.Name).Inc()
	}
}

// routeCommitted hands each cluster's Sink its alerts of a committed
// batch.
func (s *Server) routeCommitted(alerts []incident.Alert, results []incident.IngestResult) {
	if len(alerts) == 0 {
		return
	}
	first := alerts[0].Target.Cluster
	mixed := slices.ContainsFunc(alerts, func(a incident.Alert) bool { return a.Target.Cluster != first })
	if !mixed { // the usual batch: no copy
		if c := s.clusters.get(first); c != nil && c.Sink != nil {
			c.Sink.Committed(alerts, results)
		}
		return
	}
	by := map[string][]int{}
	for i := range alerts {
		by[alerts[i].Target.Cluster] = append(by[alerts[i].Target.Cluster], i)
	}
	for name, idx := range by {
		c := s.clusters.get(name)
		if c == nil || c.Sink == nil {
			continue
		}
		as, rs := make([]incident.Alert, len(idx)), make([]incident.IngestResult, len(idx))
		for j, i := range idx {
			as[j], rs[j] = alerts[i], results[i]
		}
		c.Sink.Committed(as, rs)
	}
}

// clusterStates is /readyz's view of the clusters: up, down or, for a
// cluster whose state is not watched, unknown.
func (s *Server) clusterStates() map[string]string {
	out := make(map[string]string, len(s.clusters.names))
	for _, n := range s.clusters.names {
		c := s.clusters.byName[n]
		switch {
		case c.Up == nil:
			out[n] = "unknown"
		case c.Up():
			out[n] = "up"
		default:
			out[n] = "down"
		}
	}
	return out
}

// registerClusterUp exports quell_cluster_up for clusters whose state is
// watched.
func (s *Server) registerClusterUp(reg prometheus.Registerer) {
	for _, n := range s.clusters.names {
		c := s.clusters.byName[n]
		if c.Up == nil {
			continue
		}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "quell_cluster_up", Help: "Whether the cluster's API server answered quell's last probe (1) or not (0).",
			ConstLabels: prometheus.Labels{"cluster": n},
		}, func() float64 {
			if c.Up() {
				return 1
			}
			return 0
		}))
	}
}
