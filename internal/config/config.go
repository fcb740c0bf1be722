// Package config holds quell's typed configuration and loads it once, from
// defaults, then a YAML file, then QUELL_* environment variables, then flags,
// each layer overriding the one before.
//
// Every setting has a dotted key (log.level, server.listen, ...). The YAML
// file nests by key, the environment variable is QUELL_ followed by the key
// upper-cased with dots as underscores (QUELL_LOG_LEVEL), and a flag override
// names the key directly. A key holding a list of mappings
// (kubernetes.clusters) takes one in YAML, its entries' fields named
// KEY[i].FIELD in problems, and a one-line form in the environment and
// flags. Load decodes and validates everything before it
// returns: the result is either a fully valid *Config or an error that lists
// every problem at once, each naming the key and where its value came from.
// A Config is a plain value; callers treat it as read-only once loaded.
package config

import (
	"log/slog"
	"time"
)

// Config is the whole of quell's configuration.
type Config struct {
	Log        Log
	Server     Server
	Kubernetes Kubernetes
	Rules      Rules
	Client     Client
	Notify     Notify
	Response   Response
	HA         HA
	Dev        Dev
}

// Response configures the response engine (the mode is server.mode).
type Response struct {
	Playbooks                 []string      // response.playbooks: playbook files, validated at start, re-read when changed
	Credentials               string        // response.credentials: standing (quell's own identity) or jit
	HomeNamespace             string        // response.home_namespace: quell's namespace (jit credentials for node actions live there)
	ProtectedNamespaces       []string      // response.protected_namespaces: never acted on
	VerifyHold                time.Duration // response.verify_hold: how long containment must hold
	GracePeriod               time.Duration // response.grace_period: pod deletions; negative (default) uses the pod's own, 0 forces
	ActionsPerMinute          int           // response.actions_per_minute: destructive actions, all namespaces
	NamespaceActionsPerMinute int           // response.namespace_actions_per_minute: destructive actions per namespace
	SuspensionsPerHour        int           // response.suspensions_per_hour: per namespace, beyond which approval is required
}

// Notify configures notifications on incident open, contained and failed.
type Notify struct {
	SlackWebhookURL string // notify.slack_webhook_url
	WebhookURL      string // notify.webhook_url: generic JSON
	KubeEvents      bool   // notify.kube_events: a Kubernetes Event on the affected object
	ConsoleURL      string // notify.console_url: base URL linked from messages
}

// Client configures the CLI commands that talk to a server.
type Client struct {
	Server string // client.server: URL of the quell server
	Token  string // client.token: bearer token
}

// Rules configures the detection engine.
type Rules struct {
	Files      []string // rules.files: Falco rules files loaded after the built-in ones
	NoDefaults bool     // rules.no_defaults: skip the built-in rules
}

// Log configures logging.
type Log struct {
	Level  slog.Level // log.level: debug, info, warn, error
	Format string     // log.format: text or json
}

// Server configures `quell server`.
type Server struct {
	Listen          string        // server.listen: host:port
	Store           string        // server.store: sqlite://PATH or postgres://...
	Mode            string        // server.mode: observe, dry-run or enforce
	AuthTokenFile   string        // server.auth_token_file: bearer tokens, one per line
	MaxBodyBytes    int64         // server.max_body_bytes: request body cap
	ReadTimeout     time.Duration // server.read_timeout
	WriteTimeout    time.Duration // server.write_timeout
	IdleTimeout     time.Duration // server.idle_timeout
	ShutdownGrace   time.Duration // server.shutdown_grace
	TLSCertFile     string        // server.tls_cert_file: serve HTTPS (the audit webhook sends tokens only over HTTPS)
	TLSKeyFile      string        // server.tls_key_file
	TLSClientCAFile string        // server.tls_client_ca_file: mutual TLS: clients need a certificate signed by a CA in this PEM file (and a token)
	Window          time.Duration // server.correlation_window: alerts about one target within it join one incident
	Retention       time.Duration // server.retention: delete closed incidents last seen longer ago; 0 keeps all
	RateLimit       float64       // server.rate_limit: requests per second per token (burst twice that)
	// ProxyUserHeader (server.proxy_user_header), when set, names the
	// header an authenticating proxy in front of quell (oauth2-proxy, an
	// OIDC gateway) puts the signed-in user in; it is trusted only from a
	// loopback peer or a client certificate quell verified.
	ProxyUserHeader string
}

// Kubernetes configures access to the clusters quell watches and acts on:
// one (Kubeconfig and Cluster), or several (Clusters); List returns them
// either way.
type Kubernetes struct {
	Kubeconfig string // kubernetes.kubeconfig: the one cluster's; empty means in-cluster or $KUBECONFIG
	Cluster    string // kubernetes.cluster: the one cluster's name, which incidents carry
	// Clusters (kubernetes.clusters), when set, are the clusters one
	// server serves, instead of Kubeconfig and Cluster.
	Clusters []Cluster
	// DefaultCluster (kubernetes.default_cluster) is the cluster of an
	// alert that names none; empty: the first.
	DefaultCluster string
	PodWatch       bool // kubernetes.pod_watch: raise "New K8s Pod" from a pod watch (when no audit webhook reaches quell)
}

// Cluster is one cluster quell serves.
type Cluster struct {
	Name       string // on incidents, in ingest's ?cluster= and in playbooks' match.clusters
	Kubeconfig string // empty: in-cluster, then $KUBECONFIG
	Context    string // a context of Kubeconfig; empty: its current context
}

// List returns the clusters quell serves: Clusters, or else the one
// cluster of Kubeconfig and Cluster.
func (k Kubernetes) List() []Cluster {
	if len(k.Clusters) > 0 {
		return k.Clusters
	}
	return []Cluster{{Name: k.Cluster, Kubeconfig: k.Kubeconfig}}
}

// Find returns the cluster of List named name (empty: the default one).
func (k Kubernetes) Find(name string) (Cluster, bool) {
	if name == "" {
		name = k.Default()
	}
	for _, c := range k.List() {
		if c.Name == name {
			return c, true
		}
	}
	return Cluster{}, false
}

// Default returns the name of the cluster an alert naming none belongs
// to: DefaultCluster, else the first of List.
func (k Kubernetes) Default() string {
	if k.DefaultCluster != "" {
		return k.DefaultCluster
	}
	return k.List()[0].Name
}

// Dev configures the local development control plane.
type Dev struct {
	K8sBinDir string // dev.k8s_bin_dir: where kube-apiserver and friends are cached
}

// Log formats.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Response modes.
const (
	ModeObserve = "observe"
	ModeDryRun  = "dry-run"
	ModeEnforce = "enforce"
)

// Credentials modes of the response engine.
const (
	CredentialsStanding = "standing"
	CredentialsJIT      = "jit"
)

// Default returns the configuration used when nothing overrides it.
func Default() Config {
	return Config{
		Log:        Log{Level: slog.LevelInfo, Format: FormatText},
		Kubernetes: Kubernetes{Cluster: "default"},
		Client:     Client{Server: "http://127.0.0.1:8080"},
		Server: Server{
			Listen:        "127.0.0.1:8080",
			Store:         "sqlite://quell.db",
			Mode:          ModeObserve,
			MaxBodyBytes:  1 << 20,
			ReadTimeout:   10 * time.Second,
			WriteTimeout:  30 * time.Second,
			IdleTimeout:   120 * time.Second,
			ShutdownGrace: 10 * time.Second,
			Window:        10 * time.Minute,
			RateLimit:     5000,
		},
		Notify: Notify{KubeEvents: true},
		HA: HA{
			LeaseName:     "quell-leader",
			LeaseDuration: 15 * time.Second,
			RenewDeadline: 10 * time.Second,
			RetryPeriod:   2 * time.Second,
			PollInterval:  250 * time.Millisecond,
		},
		Response: Response{
			Credentials:               CredentialsStanding,
			HomeNamespace:             "quell-system",
			ProtectedNamespaces:       []string{"kube-system", "kube-public", "kube-node-lease", "quell-system"},
			VerifyHold:                time.Second,
			GracePeriod:               -1,
			ActionsPerMinute:          60,
			NamespaceActionsPerMinute: 20,
			SuspensionsPerHour:        5,
		},
	}
}
