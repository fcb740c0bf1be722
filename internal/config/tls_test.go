package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClientCAFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca := write("ca.pem", caPEM)
	withKey := write("mixed.pem", append(caPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...))
	notPEM := write("ca.txt", []byte("not a certificate\n"))
	badDER := write("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}))
	missing := filepath.Join(dir, "missing.pem")

	tls := []Override{{Key: "server.tls_cert_file", Value: "/c.pem", Source: "flag"}, {Key: "server.tls_key_file", Value: "/k.pem", Source: "flag"}}
	caFlag := func(p string) Override { return Override{Key: "server.tls_client_ca_file", Value: p, Source: "flag"} }
	tests := []struct {
		name string
		over []Override
		want []string // problems; nil: loads
	}{
		{"unset", nil, nil},
		{"valid CA with TLS", append(tls, caFlag(ca)), nil},
		{"without TLS", []Override{caFlag(ca)}, []string{"server.tls_client_ca_file|flag|needs server.tls_cert_file and server.tls_key_file (mutual TLS is TLS)"}},
		{"missing file", append(tls, caFlag(missing)), []string{"server.tls_client_ca_file|flag|read client CA file: open " + missing + ": no such file or directory"}},
		{"not PEM", append(tls, caFlag(notPEM)), []string{"server.tls_client_ca_file|flag|client CA file " + notPEM + ": no PEM certificate found"}},
		{"key in the file", append(tls, caFlag(withKey)), []string{"server.tls_client_ca_file|flag|client CA file " + withKey + `: PEM block 2 is a "EC PRIVATE KEY", not a CERTIFICATE`}},
		{"bad certificate", append(tls, caFlag(badDER)), []string{"server.tls_client_ca_file|flag|client CA file " + badDER + ": PEM block 1: x509: malformed certificate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(Sources{Overrides: tt.over})
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if cfg != nil {
				t.Errorf("Load returned a config with problems")
			}
			if diff := cmp.Diff(tt.want, problems(err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
	pool, err := ClientCAPool(ca)
	if err != nil || pool == nil {
		t.Fatalf("ClientCAPool = %v, %v", pool, err)
	}
}

func TestProxyUserHeader(t *testing.T) {
	over := func(v string) []Override {
		return []Override{{Key: "server.proxy_user_header", Value: v, Source: "flag"}}
	}
	if cfg, err := Load(Sources{Overrides: over("X-Forwarded-User")}); err != nil || cfg.Server.ProxyUserHeader != "X-Forwarded-User" {
		t.Fatalf("Load: %v", err)
	}
	for v, want := range map[string]string{
		"X Forwarded":   `server.proxy_user_header|flag|"X Forwarded" is not an HTTP header name (letters, digits and -)`,
		"authorization": `server.proxy_user_header|flag|"Authorization" carries the bearer tokens; name the proxy's own header`,
	} {
		_, err := Load(Sources{Overrides: over(v)})
		if diff := cmp.Diff([]string{want}, problems(err)); diff != "" {
			t.Errorf("%q: problems (-want +got):\n%s", v, diff)
		}
	}
}
