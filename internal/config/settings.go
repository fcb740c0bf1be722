package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// setting is one configurable key: how to parse a textual value into the
// Config, and how to check the resulting value.
type setting struct {
	key   string
	set   func(c *Config, v string) error
	check func(c *Config) error // nil: any parsed value is valid
}

// settings is the explicit table of every key quell accepts.
func settings() []setting {
	return append([]setting{
		{"log.level", func(c *Config, v string) error { return parseLevel(&c.Log.Level, v) }, nil},
		{"log.format", str(func(c *Config) *string { return &c.Log.Format }),
			oneOf(func(c *Config) string { return c.Log.Format }, FormatText, FormatJSON)},
		{"server.listen", str(func(c *Config) *string { return &c.Server.Listen }),
			func(c *Config) error { return checkHostPort(c.Server.Listen) }},
		{"server.store", str(func(c *Config) *string { return &c.Server.Store }),
			func(c *Config) error { return checkStore(c.Server.Store) }},
		{"server.mode", str(func(c *Config) *string { return &c.Server.Mode }),
			oneOf(func(c *Config) string { return c.Server.Mode }, ModeObserve, ModeDryRun, ModeEnforce)},
		{"server.auth_token_file", str(func(c *Config) *string { return &c.Server.AuthTokenFile }), nil},
		{"server.proxy_user_header", str(func(c *Config) *string { return &c.Server.ProxyUserHeader }),
			func(c *Config) error { return checkHeaderName(c.Server.ProxyUserHeader) }},
		{"server.max_body_bytes", func(c *Config, v string) error { return parseSize(&c.Server.MaxBodyBytes, v) },
			func(c *Config) error { return positive(c.Server.MaxBodyBytes) }},
		{"server.read_timeout", dur(func(c *Config) *time.Duration { return &c.Server.ReadTimeout }),
			func(c *Config) error { return positive(int64(c.Server.ReadTimeout)) }},
		{"server.write_timeout", dur(func(c *Config) *time.Duration { return &c.Server.WriteTimeout }),
			func(c *Config) error { return positive(int64(c.Server.WriteTimeout)) }},
		{"server.idle_timeout", dur(func(c *Config) *time.Duration { return &c.Server.IdleTimeout }),
			func(c *Config) error { return positive(int64(c.Server.IdleTimeout)) }},
		{"server.shutdown_grace", dur(func(c *Config) *time.Duration { return &c.Server.ShutdownGrace }),
			func(c *Config) error { return positive(int64(c.Server.ShutdownGrace)) }},
		{"server.tls_cert_file", str(func(c *Config) *string { return &c.Server.TLSCertFile }),
			func(c *Config) error {
				return bothOrNeither(c.Server.TLSCertFile, c.Server.TLSKeyFile, "server.tls_key_file")
			}},
		{"server.tls_key_file", str(func(c *Config) *string { return &c.Server.TLSKeyFile }), nil},
		{"server.tls_client_ca_file", str(func(c *Config) *string { return &c.Server.TLSClientCAFile }),
			func(c *Config) error { return checkClientCA(c.Server.TLSClientCAFile, c.Server.TLSCertFile) }},
		{"server.correlation_window", dur(func(c *Config) *time.Duration { return &c.Server.Window }),
			func(c *Config) error { return positive(int64(c.Server.Window)) }},
		{"server.retention", dur(func(c *Config) *time.Duration { return &c.Server.Retention }),
			func(c *Config) error {
				if c.Server.Retention < 0 {
					return fmt.Errorf("must not be negative")
				}
				return nil
			}},
		{"server.rate_limit", func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number of requests per second", v)
			}
			c.Server.RateLimit = f
			return nil
		}, func(c *Config) error { return positive(int64(c.Server.RateLimit)) }},
		{"notify.slack_webhook_url", str(func(c *Config) *string { return &c.Notify.SlackWebhookURL }),
			func(c *Config) error { return checkURL(c.Notify.SlackWebhookURL) }},
		{"notify.webhook_url", str(func(c *Config) *string { return &c.Notify.WebhookURL }),
			func(c *Config) error { return checkURL(c.Notify.WebhookURL) }},
		{"notify.kube_events", func(c *Config, v string) error { return parseBool(&c.Notify.KubeEvents, v) }, nil},
		{"notify.console_url", str(func(c *Config) *string { return &c.Notify.ConsoleURL }),
			func(c *Config) error { return checkURL(c.Notify.ConsoleURL) }},
		{"kubernetes.kubeconfig", str(func(c *Config) *string { return &c.Kubernetes.Kubeconfig }), nil},
		{"kubernetes.cluster", str(func(c *Config) *string { return &c.Kubernetes.Cluster }),
			func(c *Config) error { return checkName(c.Kubernetes.Cluster) }},
		{"kubernetes.clusters", setClusters, nil}, // and its entries' fields, see listEntries; checked by checkClusters
		{"kubernetes.default_cluster", str(func(c *Config) *string { return &c.Kubernetes.DefaultCluster }), nil},
		{"kubernetes.pod_watch", func(c *Config, v string) error { return parseBool(&c.Kubernetes.PodWatch, v) }, nil},
		{"rules.files", func(c *Config, v string) error { c.Rules.Files = splitList(v); return nil }, nil},
		{"rules.no_defaults", func(c *Config, v string) error { return parseBool(&c.Rules.NoDefaults, v) }, nil},
		{"client.server", str(func(c *Config) *string { return &c.Client.Server }), nil},
		{"client.token", str(func(c *Config) *string { return &c.Client.Token }), nil},
		{"response.playbooks", func(c *Config, v string) error { c.Response.Playbooks = splitList(v); return nil }, nil},
		{"response.credentials", str(func(c *Config) *string { return &c.Response.Credentials }),
			oneOf(func(c *Config) string { return c.Response.Credentials }, CredentialsStanding, CredentialsJIT)},
		{"response.home_namespace", str(func(c *Config) *string { return &c.Response.HomeNamespace }),
			func(c *Config) error { return checkName(c.Response.HomeNamespace) }},
		{"response.protected_namespaces", func(c *Config, v string) error { c.Response.ProtectedNamespaces = splitList(v); return nil }, nil},
		{"response.verify_hold", dur(func(c *Config) *time.Duration { return &c.Response.VerifyHold }),
			func(c *Config) error { return positive(int64(c.Response.VerifyHold)) }},
		{"response.grace_period", func(c *Config, v string) error {
			if v == "pod" {
				c.Response.GracePeriod = -1
				return nil
			}
			return dur(func(c *Config) *time.Duration { return &c.Response.GracePeriod })(c, v)
		}, func(c *Config) error {
			if c.Response.GracePeriod >= 0 && c.Response.GracePeriod%time.Second != 0 {
				return fmt.Errorf("must be whole seconds (or \"pod\" for the pod's own)")
			}
			return nil
		}},
		{"response.actions_per_minute", integer(func(c *Config) *int { return &c.Response.ActionsPerMinute }),
			func(c *Config) error { return positive(int64(c.Response.ActionsPerMinute)) }},
		{"response.namespace_actions_per_minute", integer(func(c *Config) *int { return &c.Response.NamespaceActionsPerMinute }),
			func(c *Config) error { return positive(int64(c.Response.NamespaceActionsPerMinute)) }},
		{"response.suspensions_per_hour", integer(func(c *Config) *int { return &c.Response.SuspensionsPerHour }),
			func(c *Config) error { return positive(int64(c.Response.SuspensionsPerHour)) }},
		{"dev.k8s_bin_dir", str(func(c *Config) *string { return &c.Dev.K8sBinDir }), nil},
	}, haSettings()...)
}

func str(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *field(c) = v; return nil }
}

func integer(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}
}

func dur(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (like 30s or 5m)", v)
		}
		*field(c) = d
		return nil
	}
}

func oneOf(field func(*Config) string, allowed ...string) func(*Config) error {
	return func(c *Config) error {
		v := field(c)
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func parseLevel(l *slog.Level, v string) error {
	switch strings.ToLower(v) {
	case "debug":
		*l = slog.LevelDebug
	case "info":
		*l = slog.LevelInfo
	case "warn", "warning":
		*l = slog.LevelWarn
	case "error":
		*l = slog.LevelError
	default:
		return fmt.Errorf("%q is not one of debug, info, warn, error", v)
	}
	return nil
}

// parseSize accepts a byte count with an optional KiB/MiB/GiB suffix.
func parseSize(n *int64, v string) error {
	mult := int64(1)
	s := strings.TrimSpace(v)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a size (like 1048576 or 1MiB)", v)
	}
	*n = i * mult
	return nil
}

func positive(v int64) error {
	if v <= 0 {
		return fmt.Errorf("must be greater than zero")
	}
	return nil
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port", v)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}

func checkStore(v string) error {
	switch {
	case strings.HasPrefix(v, "sqlite://") && len(v) > len("sqlite://"):
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
	default:
		return fmt.Errorf("%q is neither sqlite://PATH nor postgres://...", v)
	}
	return nil
}

// splitList splits a comma-separated list (a YAML sequence arrives joined
// with commas), dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func parseBool(b *bool, v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = x
	return nil
}

// checkName accepts a DNS-label-like name.
func checkName(v string) error {
	if v == "" || len(v) > 63 {
		return fmt.Errorf("%q must be 1 to 63 characters", v)
	}
	for _, r := range v {
		if !(r == '-' || r == '.' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return fmt.Errorf("%q may hold only letters, digits, '-', '.' and '_'", v)
		}
	}
	return nil
}

func bothOrNeither(a, b, other string) error {
	if (a == "") != (b == "") {
		return fmt.Errorf("must be set together with %s", other)
	}
	return nil
}

// checkURL accepts an empty value or an absolute http(s) URL.
func checkURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL", v)
	}
	return nil
}

// checkHeaderName accepts an empty value (off) or an HTTP header name.
func checkHeaderName(v string) error {
	if v == "" {
		return nil
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%q is not an HTTP header name (letters, digits and -)", v)
		}
	}
	if strings.EqualFold(v, "Authorization") {
		return errors.New(`"Authorization" carries the bearer tokens; name the proxy's own header`)
	}
	return nil
}
