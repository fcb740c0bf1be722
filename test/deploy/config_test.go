package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/daemon"
	"quell.dev/quell/internal/playbook"
	"quell.dev/quell/internal/respond"
)

var (
	haEnabledRE = regexp.MustCompile(`(?m)^ha:\n  enabled: true$`)
)

// TestRenderedConfigLoads loads what the chart gives the server the way
// quell loads it: quell.yaml with the store from the environment, the
// playbooks and the rules files.
func TestRenderedConfigLoads(t *testing.T) {
	for _, in := range installs() {
		t.Run(in.name, func(t *testing.T) {
			objs := parse(t, render(t, in))
			cm := as[corev1.ConfigMap](t, objs.get(t, "ConfigMap", in.fullname))
			body := cm.Data["quell.yaml"]
			dir := t.TempDir()
			// The TLS Secret's CA, which the replicas check each other's
			// certificate with, is read at load.
			body = strings.ReplaceAll(body, "/etc/quell/tls/ca.crt", writeCA(t, dir))
			file := filepath.Join(dir, "quell.yaml")
			if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(config.Sources{File: file, Env: podEnv(t, objs, in)})
			if err != nil {
				t.Fatalf("the chart's quell.yaml does not load:\n%v\n%s", err, body)
			}
			wantCreds := config.CredentialsStanding
			if in.jit {
				wantCreds = config.CredentialsJIT
			}
			if cfg.Response.Credentials != wantCreds || cfg.Response.HomeNamespace != in.namespace ||
				!slices.Contains(cfg.Response.ProtectedNamespaces, in.namespace) || cfg.Server.AuthTokenFile == "" {
				t.Errorf("response %+v, token file %q: want credentials %s, home and protected namespace %s, a token file",
					cfg.Response, cfg.Server.AuthTokenFile, wantCreds, in.namespace)
			}
			if !haEnabledRE.MatchString(cm.Data["quell.yaml"]) {
				t.Errorf("quell.yaml does not set ha.enabled: true:\n%s", cm.Data["quell.yaml"])
			}

			// Playbooks and rules, written where the pod mounts them.
			paths := func(cmName, mount string, want []string) []string {
				if len(want) == 0 {
					return nil
				}
				cm := as[corev1.ConfigMap](t, objs.get(t, "ConfigMap", cmName))
				var out []string
				for _, p := range want {
					if filepath.Dir(p) != mount {
						t.Fatalf("%s is not under %s", p, mount)
					}
					local := filepath.Join(dir, filepath.Base(p))
					if err := os.WriteFile(local, []byte(cm.Data[filepath.Base(p)]), 0o600); err != nil {
						t.Fatal(err)
					}
					out = append(out, local)
				}
				return out
			}
			books := paths(in.fullname+"-playbooks", "/etc/quell/playbooks", cfg.Response.Playbooks)
			policy, err := playbook.LoadPolicy(respond.DefaultRegistry(), books...)
			if err != nil {
				t.Fatalf("playbooks: %v", err)
			}
			if in.jit && len(policy.Playbooks) == 0 {
				t.Error("no playbook loaded from the values")
			}
			rcfg := *cfg
			rcfg.Rules.Files = paths(in.fullname+"-rules", "/etc/quell/rules", cfg.Rules.Files)
			if _, err := daemon.LoadRules(&rcfg, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatalf("rules: %v", err)
			}
		})
	}
}

// podEnv is the environment the server's pod gives quell: the store from
// its Secret, and the leader election identity and address from the
// downward API, with the pod's name and IP filled in.
func podEnv(t *testing.T, objs objects, in install) []string {
	t.Helper()
	d := as[appsv1.Deployment](t, objs.get(t, "Deployment", in.fullname))
	vars := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		vars[e.Name] = e.Value
	}
	pod := strings.NewReplacer("$(POD_NAME)", in.fullname+"-7c9d-x2", "$(POD_IP)", "10.1.2.3")
	env := []string{"QUELL_SERVER_STORE=postgres://quell@db/quell"}
	for _, k := range []string{"QUELL_HA_IDENTITY", "QUELL_HA_ADVERTISE_URL"} {
		if vars[k] == "" {
			t.Errorf("the server's pod sets no %s", k)
		}
		env = append(env, k+"="+pod.Replace(vars[k]))
	}
	return env
}

// writeCA writes a self-signed CA certificate in dir and returns its path.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "quell test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
