package devcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// AdminUser is the name of the cluster-admin identity (group system:masters).
const AdminUser = "admin"

// Options configure Start.
type Options struct {
	Dir      string   // state directory; created if missing
	Binaries Binaries // from EnsureBinaries
	// AuditWebhookURL, when set, makes the API server send audit events
	// (policy: request and response bodies of workloads, pods, RBAC) to it.
	AuditWebhookURL   string
	AuditWebhookToken string        // bearer token the webhook sends; only over https
	AuditBatchWait    time.Duration // max wait before a batch is sent; default 250ms
	// AuditWebhookConfig, instead of AuditWebhookURL, is a webhook
	// kubeconfig file to give the API server as it is (the Helm chart's,
	// say), with AuditPolicy's file (default: AuditPolicy written to Dir).
	AuditWebhookConfig, AuditPolicyFile string
	// Users are extra token identities besides admin.
	Users []User
	// Detach lets the processes outlive the caller (quell dev cluster up);
	// otherwise they are killed when the caller exits.
	Detach bool
	// ReadyTimeout bounds the wait for readiness; default 90s.
	ReadyTimeout time.Duration
	Log          *slog.Logger
}

// Cluster is a running control plane.
type Cluster struct {
	Dir        string            `json:"dir"`
	Server     string            `json:"server"` // https://127.0.0.1:PORT
	Kubeconfig string            `json:"kubeconfig"`
	Tokens     map[string]string `json:"tokens"` // user name -> bearer token
	EtcdURL    string            `json:"etcd_url"`
	Processes  []*process        `json:"processes"`

	mu      sync.Mutex
	stopped bool
}

const stateFile = "state.json"

// Start launches etcd, kube-apiserver and kube-controller-manager and waits
// until the cluster is ready. On failure it stops whatever it started.
// The ports are picked free and given to the processes, which bind them a
// moment later; when another process took one meanwhile, Start begins
// again on other ports (three attempts in all).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	for attempt := 1; ; attempt++ {
		c, err := start(ctx, opts)
		if err == nil || attempt == 3 || ctx.Err() != nil || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
		orDiscard(opts.Log).Warn("a control-plane port was taken before it was bound; starting again on other ports", "attempt", attempt, "err", err)
	}
}

// start is one attempt of Start.
func start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	log := orDiscard(opts.Log)
	if opts.Dir == "" {
		return nil, errors.New("start cluster: no state directory")
	}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	users := append([]User{{Name: AdminUser, Groups: []string{"system:masters"}}}, opts.Users...)
	users = append(users, User{Name: "system:kube-controller-manager"})
	c := &Cluster{Dir: dir, Tokens: map[string]string{}, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	for i := range users {
		if users[i].Token == "" {
			users[i].Token = randomToken()
		}
		c.Tokens[users[i].Name] = users[i].Token
	}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	c.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ports[2])

	etcd, err := startProcess("etcd", opts.Binaries.Etcd, []string{
		"--name", "quell-dev", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", c.EtcdURL, "--advertise-client-urls", c.EtcdURL,
		"--listen-peer-urls", "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		"--initial-advertise-peer-urls", "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		"--initial-cluster", "quell-dev=http://127.0.0.1:" + strconv.Itoa(ports[1]),
		"--log-level", "warn",
	}, filepath.Join(dir, "logs", "etcd.log"), opts.Detach)
	if err != nil {
		return nil, err
	}
	c.Processes = append(c.Processes, etcd)

	saKey, saPub, err := writeServiceAccountKeys(dir)
	if err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "tokens.csv")
	if err := writeTokens(tokens, users); err != nil {
		return nil, fmt.Errorf("write tokens: %w", err)
	}
	apiArgs := []string{
		"--etcd-servers=" + c.EtcdURL,
		"--secure-port=" + strconv.Itoa(ports[2]), "--bind-address=127.0.0.1",
		"--cert-dir=" + filepath.Join(dir, "certs"),
		"--service-account-key-file=" + saPub, "--service-account-signing-key-file=" + saKey,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--token-auth-file=" + tokens, "--authorization-mode=Node,RBAC",
		"--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
		"--endpoint-reconciler-type=none",
	}
	policy, webhook := opts.AuditPolicyFile, opts.AuditWebhookConfig
	switch {
	case opts.AuditWebhookURL != "":
		if policy, webhook, err = writeAudit(dir, opts.AuditWebhookURL, opts.AuditWebhookToken); err != nil {
			return nil, fmt.Errorf("write audit config: %w", err)
		}
	case webhook != "" && policy == "":
		policy = filepath.Join(dir, "audit-policy.yaml")
		if err := os.WriteFile(policy, []byte(AuditPolicy), 0o644); err != nil {
			return nil, fmt.Errorf("write audit policy: %w", err)
		}
	}
	if webhook != "" {
		wait := opts.AuditBatchWait
		if wait <= 0 {
			wait = 250 * time.Millisecond
		}
		apiArgs = append(apiArgs, "--audit-policy-file="+policy, "--audit-webhook-config-file="+webhook,
			"--audit-webhook-batch-max-wait="+wait.String())
	}
	api, err := startProcess("kube-apiserver", opts.Binaries.APIServer, apiArgs, filepath.Join(dir, "logs", "kube-apiserver.log"), opts.Detach)
	if err != nil {
		return nil, err
	}
	c.Processes = append(c.Processes, api)
	if err := writeKubeconfig(c.Kubeconfig, c.Server, users); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}
	cmKubeconfig := filepath.Join(dir, "controller-manager.kubeconfig")
	if err := writeKubeconfig(cmKubeconfig, c.Server, users[len(users)-1:]); err != nil {
		return nil, fmt.Errorf("write kubeconfig: %w", err)
	}

	readyTimeout := opts.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := c.waitAPIReady(ctx, api); err != nil {
		return nil, err
	}
	log.Debug("api server ready", "server", c.Server)

	cm, err := startProcess("kube-controller-manager", opts.Binaries.ControllerManager, []string{
		"--kubeconfig=" + cmKubeconfig, "--authentication-kubeconfig=" + cmKubeconfig,
		"--authorization-kubeconfig=" + cmKubeconfig,
		"--service-account-private-key-file=" + saKey, "--root-ca-file=" + filepath.Join(dir, "certs", "apiserver.crt"),
		"--use-service-account-credentials=true",
		"--controllers=*,-nodeipam,-nodelifecycle,-ttl,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
		"--leader-elect=false", "--secure-port=0",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
	}, filepath.Join(dir, "logs", "kube-controller-manager.log"), opts.Detach)
	if err != nil {
		return nil, err
	}
	c.Processes = append(c.Processes, cm)
	if err := c.waitControllers(ctx, cm); err != nil {
		return nil, err
	}
	if err := c.save(); err != nil {
		return nil, err
	}
	log.Info("control plane ready", "server", c.Server, "kubeconfig", c.Kubeconfig)
	return c, nil
}

// RESTConfig returns a client config authenticating as user.
func (c *Cluster) RESTConfig(user string) *rest.Config {
	return &rest.Config{
		Host:            c.Server,
		BearerToken:     c.Tokens[user],
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             1000,
		Burst:           2000,
	}
}

// Client returns a clientset authenticating as admin.
func (c *Cluster) Client() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.RESTConfig(AdminUser))
}

func (c *Cluster) waitAPIReady(ctx context.Context, api *process) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer hc.CloseIdleConnections()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.Tokens[AdminUser])
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := c.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for kube-apiserver readyz (log %s): %w", api.Log, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitControllers waits until the controller manager has created the default
// service account, proof that its controllers run and can write.
func (c *Cluster) waitControllers(ctx context.Context, cm *process) error {
	cs, err := c.Client()
	if err != nil {
		return err
	}
	for {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			return fmt.Errorf("wait for default service account: %w", err)
		}
		if err := c.checkAlive(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for kube-controller-manager (log %s): %w", cm.Log, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkAlive returns an error naming the first started process that died,
// with the tail of its log.
func (c *Cluster) checkAlive() error {
	for _, p := range c.Processes {
		if !p.alive() {
			return fmt.Errorf("%s exited during start-up; log %s:\n%s", p.Name, p.Log, tail(p.Log, 2000))
		}
	}
	return nil
}

func tail(path string, n int) string {
	data, _ := os.ReadFile(path)
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return strings.TrimSpace(string(data))
}

func (c *Cluster) save() error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(c.Dir, stateFile))
}

// Stop stops the processes in reverse order of start and removes the data
// the cluster wrote. It is idempotent.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	var errs []error
	for i := len(c.Processes) - 1; i >= 0; i-- {
		if err := c.Processes[i].stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, name := range []string{"etcd", "certs", "logs", "sa.key", "sa.pub", "tokens.csv", "kubeconfig",
		"controller-manager.kubeconfig", "audit-policy.yaml", "audit-webhook.yaml", stateFile} {
		if err := os.RemoveAll(filepath.Join(c.Dir, name)); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(c.Dir) // only if now empty
	return errors.Join(errs...)
}
