package config

import (
	"fmt"
	"net"
	"net/url"
	"time"
)

// HA configures high availability: several `quell server` replicas share
// one store; every replica serves ingest, the API and the console, and the
// one holding a coordination.k8s.io Lease in the cluster responds.
type HA struct {
	Enabled        bool          // ha.enabled: elect a leader; only it responds
	LeaseNamespace string        // ha.lease_namespace: where the Lease lives; empty: response.home_namespace
	LeaseName      string        // ha.lease_name
	Identity       string        // ha.identity: this replica's name in the Lease (the pod's name); empty: hostname and a random suffix
	AdvertiseURL   string        // ha.advertise_url: how the other replicas reach this one's API (requests that act are forwarded to the leader)
	PeerServerName string        // ha.peer_server_name: TLS name the replicas' certificate holds, when it is not the advertised host
	PeerCAFile     string        // ha.peer_ca_file: CAs that sign the replicas' certificate; empty: server.tls_cert_file's own certificates
	LeaseDuration  time.Duration // ha.lease_duration: how long a lease holds without renewal (the takeover time after a crash)
	RenewDeadline  time.Duration // ha.renew_deadline: the leader steps down when it could not renew for this long
	RetryPeriod    time.Duration // ha.retry_period: how often candidates try and the leader renews
	PollInterval   time.Duration // ha.poll_interval: how often the leader reads the store for alerts the other replicas stored
}

func haSettings() []setting {
	return []setting{
		{"ha.enabled", func(c *Config, v string) error { return parseBool(&c.HA.Enabled, v) }, checkHA},
		{"ha.lease_namespace", str(func(c *Config) *string { return &c.HA.LeaseNamespace }),
			func(c *Config) error { return optional(c.HA.LeaseNamespace, checkName) }},
		{"ha.lease_name", str(func(c *Config) *string { return &c.HA.LeaseName }),
			func(c *Config) error { return checkName(c.HA.LeaseName) }},
		{"ha.identity", str(func(c *Config) *string { return &c.HA.Identity }),
			func(c *Config) error { return optional(c.HA.Identity, checkName) }},
		{"ha.advertise_url", str(func(c *Config) *string { return &c.HA.AdvertiseURL }),
			func(c *Config) error { return optional(c.HA.AdvertiseURL, checkPeerURL) }},
		{"ha.peer_server_name", str(func(c *Config) *string { return &c.HA.PeerServerName }), nil},
		{"ha.peer_ca_file", str(func(c *Config) *string { return &c.HA.PeerCAFile }),
			func(c *Config) error {
				if c.HA.PeerCAFile == "" {
					return nil
				}
				_, err := CertPool("peer CA file", c.HA.PeerCAFile)
				return err
			}},
		{"ha.lease_duration", dur(func(c *Config) *time.Duration { return &c.HA.LeaseDuration }),
			func(c *Config) error { return positive(int64(c.HA.LeaseDuration)) }},
		{"ha.renew_deadline", dur(func(c *Config) *time.Duration { return &c.HA.RenewDeadline }),
			func(c *Config) error { return positive(int64(c.HA.RenewDeadline)) }},
		{"ha.retry_period", dur(func(c *Config) *time.Duration { return &c.HA.RetryPeriod }),
			func(c *Config) error { return positive(int64(c.HA.RetryPeriod)) }},
		{"ha.poll_interval", dur(func(c *Config) *time.Duration { return &c.HA.PollInterval }),
			func(c *Config) error { return positive(int64(c.HA.PollInterval)) }},
	}
}

// checkHA checks what ha.enabled needs of the other settings: lease timings
// that let a leader renew before it loses the lease, and an address the
// other replicas can forward to.
func checkHA(c *Config) error {
	h := c.HA
	if !h.Enabled {
		return nil
	}
	switch {
	case h.LeaseDuration <= h.RenewDeadline:
		return fmt.Errorf("ha.lease_duration (%s) must be longer than ha.renew_deadline (%s)", h.LeaseDuration, h.RenewDeadline)
	case float64(h.RenewDeadline) <= 1.2*float64(h.RetryPeriod):
		return fmt.Errorf("ha.renew_deadline (%s) must be longer than 1.2 × ha.retry_period (%s)", h.RenewDeadline, h.RetryPeriod)
	case h.AdvertiseURL == "" && unspecifiedHost(c.Server.Listen):
		return fmt.Errorf("needs ha.advertise_url: server.listen %q names no address the other replicas can reach", c.Server.Listen)
	}
	return nil
}

func optional(v string, check func(string) error) error {
	if v == "" {
		return nil
	}
	return check(v)
}

func checkPeerURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an http(s)://host:port URL", v)
	}
	return nil
}

func unspecifiedHost(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return true
	}
	ip := net.ParseIP(host)
	return host == "" || ip != nil && ip.IsUnspecified()
}

// PeerURL is the URL the other replicas reach this one at: ha.advertise_url,
// else the listen address with the scheme the server serves.
func (c *Config) PeerURL() string {
	if c.HA.AdvertiseURL != "" {
		return c.HA.AdvertiseURL
	}
	scheme := "http"
	if c.Server.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + c.Server.Listen
}
