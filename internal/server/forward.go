package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"

	"quell.dev/quell/internal/playbook"
)

// Leaders says which replica responds on a cluster (high availability).
// Requests that act (restore, approve, veto, manual responses) are
// forwarded to it, with the caller's own credentials, so every replica's
// API accepts them and only the leader acts.
type Leaders interface {
	// Leader returns nil when this replica leads cluster's responses,
	// else the leader's URL; ErrNoLeader while no leader is known.
	Leader(cluster string) (*url.URL, error)
	// Identity names this replica in forwarded requests.
	Identity() string
}

// ErrNoLeader: no replica is known to lead a cluster's responses yet.
var ErrNoLeader = errors.New("no replica leads the responses yet")

// HeaderForwardedBy names the replica that forwarded a request to the
// leader; a request carrying it is never forwarded again.
const HeaderForwardedBy = "X-Quell-Forwarded-By"

// forwarder proxies requests that act to the cluster's leader.
type forwarder struct {
	leaders Leaders
	proxy   *httputil.ReverseProxy
}

func newForwarder(leaders Leaders, transport http.RoundTripper) *forwarder {
	f := &forwarder{leaders: leaders}
	f.proxy = &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(leaderURLKey).(*url.URL))
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set(HeaderForwardedBy, leaders.Identity())
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, &apiError{Status: http.StatusBadGateway, Code: "leader_unreachable", Message: "forward to the leading replica: " + err.Error()})
		},
	}
	return f
}

const leaderURLKey ctxKey = 1

// leaderOnly runs h here when this replica leads the responses of the
// request's cluster (or no election runs), and forwards the request to the
// leader otherwise. cluster reads the request's cluster; it may consume
// and must restore the body.
func (s *Server) leaderOnly(cluster func(r *http.Request) (string, error), h http.HandlerFunc) http.HandlerFunc {
	if s.forward == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		name, err := cluster(r)
		if err != nil {
			writeError(w, err)
			return
		}
		to, err := s.forward.leaders.Leader(name)
		switch {
		case err != nil:
			writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "no_leader", Message: "cluster " + name + ": " + err.Error() + "; retry", RetryAfter: "2"})
		case to == nil:
			h(w, r)
		case r.Header.Get(HeaderForwardedBy) != "":
			// Forwarded here by a replica that took this one for the
			// leader: the lease moved; the caller retries.
			writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "not_leader", Message: "the leading replica changed while the request was forwarded; retry", RetryAfter: "1"})
		default:
			s.forward.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), leaderURLKey, to)))
		}
	}
}

// incidentCluster reads the cluster of the incident the path names.
func (s *Server) incidentCluster(r *http.Request) (string, error) {
	id, err := incidentID(r)
	if err != nil {
		return "", err
	}
	inc, err := s.opts.Store.Get(r.Context(), id)
	if err != nil {
		return "", storeError(err, id)
	}
	return inc.Target.Cluster, nil
}

// bodyCluster reads the "cluster" field of a JSON body (the default
// cluster when absent) and restores the body for the handler.
func (s *Server) bodyCluster(r *http.Request) (string, error) {
	body, err := readBody(r)
	if err != nil {
		return "", err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var v struct {
		Cluster string `json:"cluster"`
	}
	_ = json.Unmarshal(body, &v) // a malformed body: the handler reports it
	c, err := s.clusters.lookup(v.Cluster, "cluster")
	if err != nil {
		return "", err
	}
	if c == nil {
		return "", nil // no cluster at all: the handler answers
	}
	return c.Name, nil
}

// errNotLeader answers a request that reached an engine standing by.
var errNotLeader = &apiError{Status: http.StatusServiceUnavailable, Code: "not_leader", Message: "this replica does not lead the responses on the incident's cluster; retry", RetryAfter: "1"}

// refusal is the answer to an engine refusing a request it must not
// serve here: standing by (another replica leads), or another cluster's
// incident; nil for any other error.
func refusal(err error) *apiError {
	switch {
	case errors.Is(err, playbook.ErrNotLeader):
		return errNotLeader
	case errors.Is(err, playbook.ErrOtherCluster):
		return errOtherCluster
	}
	return nil
}
