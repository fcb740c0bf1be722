package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHASettings(t *testing.T) {
	cfg, err := Load(Sources{File: writeFile(t, strings.Join([]string{
		"server:",
		"  listen: 0.0.0.0:8443",
		"ha:",
		"  enabled: true",
		"  identity: quell-0",
		"  advertise_url: https://10.0.0.7:8443",
		"  lease_duration: 6s",
		"  renew_deadline: 4s",
		"  retry_period: 1s",
		"",
	}, "\n"))})
	if err != nil {
		t.Fatal(err)
	}
	want := HA{Enabled: true, Identity: "quell-0", AdvertiseURL: "https://10.0.0.7:8443", LeaseName: "quell-leader",
		LeaseDuration: 6 * time.Second, RenewDeadline: 4 * time.Second, RetryPeriod: time.Second, PollInterval: 250 * time.Millisecond}
	if diff := cmp.Diff(want, cfg.HA); diff != "" {
		t.Errorf("ha (-want +got):\n%s", diff)
	}
	if got := cfg.PeerURL(); got != "https://10.0.0.7:8443" {
		t.Errorf("PeerURL() = %q", got)
	}
	if d := Default(); d.PeerURL() != "http://127.0.0.1:8080" {
		t.Errorf("default PeerURL() = %q, want the listen address", d.PeerURL())
	}
}

func TestHAProblems(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want []string
	}{
		{"lease not longer than the renewal", []string{"QUELL_HA_ENABLED=true", "QUELL_HA_LEASE_DURATION=5s", "QUELL_HA_RENEW_DEADLINE=5s"},
			[]string{"ha.enabled|env QUELL_HA_ENABLED|ha.lease_duration (5s) must be longer than ha.renew_deadline (5s)"}},
		{"renewal too close to the retry period", []string{"QUELL_HA_ENABLED=true", "QUELL_HA_RETRY_PERIOD=9s"},
			[]string{"ha.enabled|env QUELL_HA_ENABLED|ha.renew_deadline (10s) must be longer than 1.2 × ha.retry_period (9s)"}},
		{"nowhere to forward to", []string{"QUELL_HA_ENABLED=true", "QUELL_SERVER_LISTEN=:8443"},
			[]string{`ha.enabled|env QUELL_HA_ENABLED|needs ha.advertise_url: server.listen ":8443" names no address the other replicas can reach`}},
		{"bad names, URL, durations and CA", []string{"QUELL_HA_IDENTITY=a b", "QUELL_HA_ADVERTISE_URL=ftp://x", "QUELL_HA_LEASE_NAME=",
			"QUELL_HA_POLL_INTERVAL=0s", "QUELL_HA_PEER_CA_FILE=/nonexistent/ca.pem"},
			[]string{
				`ha.lease_name|env QUELL_HA_LEASE_NAME|"" must be 1 to 63 characters`,
				`ha.identity|env QUELL_HA_IDENTITY|"a b" may hold only letters, digits, '-', '.' and '_'`,
				`ha.advertise_url|env QUELL_HA_ADVERTISE_URL|"ftp://x" is not an http(s)://host:port URL`,
				"ha.peer_ca_file|env QUELL_HA_PEER_CA_FILE|read peer CA file: open /nonexistent/ca.pem: no such file or directory",
				"ha.poll_interval|env QUELL_HA_POLL_INTERVAL|must be greater than zero",
			}},
		{"disabled: the timings are not checked against each other", []string{"QUELL_HA_LEASE_DURATION=1s"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(Sources{Env: c.env})
			if c.want == nil {
				if err != nil {
					t.Fatalf("Load: %v, want no problem", err)
				}
				return
			}
			if diff := cmp.Diff(c.want, problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}
