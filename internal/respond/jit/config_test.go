package jit

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/client-go/rest"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestTokenConfig checks that a lease's client carries the lease's token
// and the server's address and CA, and none of the standing credentials.
func TestTokenConfig(t *testing.T) {
	base := &rest.Config{
		Host: "https://api.example:6443", APIPath: "/api",
		Username: "u", Password: "p", BearerToken: "standing", BearerTokenFile: "/var/run/secrets/token",
		Impersonate: rest.ImpersonationConfig{UserName: "admin", Groups: []string{"system:masters"}},
		TLSClientConfig: rest.TLSClientConfig{ServerName: "api", CAFile: "/ca.crt", CAData: []byte("ca"),
			CertFile: "/c.crt", KeyFile: "/c.key", CertData: []byte("cert"), KeyData: []byte("key")},
		AuthProvider:  &clientcmdapi.AuthProviderConfig{Name: "oidc"},
		ExecProvider:  &clientcmdapi.ExecConfig{Command: "get-token"},
		WrapTransport: func(rt http.RoundTripper) http.RoundTripper { return rt },
		QPS:           50, Burst: 100, UserAgent: "quell",
	}
	got := tokenConfig(base, "lease")
	want := &rest.Config{
		Host: "https://api.example:6443", APIPath: "/api", BearerToken: "lease",
		TLSClientConfig: rest.TLSClientConfig{ServerName: "api", CAFile: "/ca.crt", CAData: []byte("ca")},
		QPS:             50, Burst: 100, UserAgent: "quell",
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(rest.Config{}, rest.TLSClientConfig{})); diff != "" {
		t.Errorf("lease config (-want +got):\n%s", diff)
	}
	if got.WrapTransport != nil || got.Transport != nil || base.BearerToken != "standing" {
		t.Error("lease config keeps the standing transport, or the base config was changed")
	}
}
