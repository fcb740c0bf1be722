package daemon

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/kubernetes"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/leader"
	"quell.dev/quell/internal/server"
)

// newElector builds the elector of a cluster's response Lease from the
// ha settings.
func newElector(cfg *config.Config, cs kubernetes.Interface, identity, cluster string, log *slog.Logger, reg prometheus.Registerer) (*leader.Elector, error) {
	h := cfg.HA
	ns := h.LeaseNamespace
	if ns == "" {
		ns = cfg.Response.HomeNamespace
	}
	return leader.New(leader.Options{Client: cs, Namespace: ns, Name: h.LeaseName, Identity: identity, URL: cfg.PeerURL(),
		LeaseDuration: h.LeaseDuration, RenewDeadline: h.RenewDeadline, RetryPeriod: h.RetryPeriod, Cluster: cluster, Log: log, Registerer: reg})
}

// replicaIdentity is ha.identity, else the host's name with a random
// suffix (two replicas on one host stay distinct).
func replicaIdentity(cfg *config.Config) (string, error) {
	if cfg.HA.Identity != "" {
		return cfg.HA.Identity, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("replica identity: %w", err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ReplaceAll(host, " ", "-") + "-" + hex.EncodeToString(b), nil
}

// leaders implements server.Leaders over the electors of the clusters.
type leaders struct {
	identity string
	electors map[string]*leader.Elector
}

var _ server.Leaders = (*leaders)(nil)

func (l *leaders) Identity() string { return l.identity }

func (l *leaders) Leader(cluster string) (*url.URL, error) {
	e, ok := l.electors[cluster]
	if !ok {
		return nil, nil // no election for it: whoever has its engine acts
	}
	if e.Leading() {
		return nil, nil
	}
	id, raw := e.Leader()
	if id == "" || id == e.Identity() || raw == "" {
		return nil, server.ErrNoLeader
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("leader %s advertises %q: %w", id, raw, err)
	}
	return u, nil
}

// peerTransport reaches the other replicas: over TLS it trusts
// ha.peer_ca_file (else the server's own certificate file), checks
// ha.peer_server_name when set, and presents the server's certificate
// where the replicas require client certificates.
func peerTransport(cfg *config.Config) (http.RoundTripper, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute // a manual response waits for its verification
	s := cfg.Server
	if s.TLSCertFile == "" {
		return t, nil
	}
	caFile := cfg.HA.PeerCAFile
	if caFile == "" {
		caFile = s.TLSCertFile
	}
	pool, err := config.CertPool("peer CA file", caFile)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{RootCAs: pool, ServerName: cfg.HA.PeerServerName, MinVersion: tls.VersionTLS12}
	if s.TLSClientCAFile != "" {
		cert, err := tls.LoadX509KeyPair(s.TLSCertFile, s.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("peer client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	t.TLSClientConfig = tc
	return t, nil
}
