package devcluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// User is an identity the API server accepts by bearer token.
type User struct {
	Name   string
	Groups []string
	Token  string // generated when empty
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeServiceAccountKeys writes the key pair that signs service-account
// tokens (TokenRequest).
func writeServiceAccountKeys(dir string) (priv, pub string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("generate service-account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("marshal public key: %w", err)
	}
	priv, pub = filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return "", "", err
	}
	return priv, pub, nil
}

// writeTokens writes the static token file: token,user,uid,"groups".
func writeTokens(path string, users []User) error {
	var b strings.Builder
	for i, u := range users {
		fmt.Fprintf(&b, "%s,%s,%d", u.Token, u.Name, i+1)
		if len(u.Groups) > 0 {
			fmt.Fprintf(&b, ",%q", strings.Join(u.Groups, ","))
		}
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// writeKubeconfig writes a kubeconfig with one context per user; the first
// user's context is current.
func writeKubeconfig(path, server string, users []User) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\nclusters:\n- name: quell-dev\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\n", server)
	b.WriteString("users:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "- name: %s\n  user:\n    token: %s\n", u.Name, u.Token)
	}
	b.WriteString("contexts:\n")
	for _, u := range users {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: quell-dev\n    user: %s\n    namespace: default\n", u.Name, u.Name)
	}
	fmt.Fprintf(&b, "current-context: %s\n", users[0].Name)
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// AuditPolicy is the API server audit policy quell's audit rules are
// written for: request and response bodies of the objects they read,
// metadata only for secrets and tokens, and nothing for reads and noise.
// The local control plane runs with it; the Helm chart ships it
// (internal/deploy).
const AuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: None
  resources:
  - group: "coordination.k8s.io"
    resources: ["leases"]
  - group: ""
    resources: ["events"]
  - group: "events.k8s.io"
- level: Metadata
  resources:
  - group: ""
    resources: ["secrets", "serviceaccounts/token"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["pods", "pods/exec", "pods/attach", "pods/portforward", "pods/ephemeralcontainers", "pods/status", "services", "serviceaccounts", "configmaps", "namespaces", "nodes"]
  - group: "apps"
  - group: "batch"
  - group: "rbac.authorization.k8s.io"
  - group: "networking.k8s.io"
- level: Metadata
`

// writeAudit writes the audit policy and the webhook kubeconfig sending
// events to url, authenticated with token when it is not empty.
func writeAudit(dir, url, token string) (policy, webhook string, err error) {
	policy, webhook = filepath.Join(dir, "audit-policy.yaml"), filepath.Join(dir, "audit-webhook.yaml")
	if err := os.WriteFile(policy, []byte(AuditPolicy), 0o644); err != nil {
		return "", "", err
	}
	userAuth := "{}"
	if token != "" {
		userAuth = "{token: " + token + "}"
	}
	cfg := fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: quell\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\nusers:\n- name: apiserver\n  user: %s\ncontexts:\n- name: quell\n  context:\n    cluster: quell\n    user: apiserver\ncurrent-context: quell\n", url, userAuth)
	if err := os.WriteFile(webhook, []byte(cfg), 0o600); err != nil {
		return "", "", err
	}
	return policy, webhook, nil
}
