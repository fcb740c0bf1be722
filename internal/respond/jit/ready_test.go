package jit

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAttributes(t *testing.T) {
	tests := []struct {
		name string
		rule rbacv1.PolicyRule
		ns   string
		want *authorizationv1.ResourceAttributes
	}{
		{"named subresource", rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"}, ResourceNames: []string{"web"}, Verbs: []string{"get", "update"}}, "shop",
			&authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "get", Group: "apps", Resource: "deployments", Subresource: "scale", Name: "web"}},
		{"cluster-scoped", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes"}, ResourceNames: []string{"n1"}, Verbs: []string{"update"}}, "",
			&authorizationv1.ResourceAttributes{Verb: "update", Resource: "nodes", Name: "n1"}},
		{"any name", rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch"}}, "shop",
			&authorizationv1.ResourceAttributes{Namespace: "shop", Verb: "list", Resource: "pods"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, attributes(tt.rule, tt.ns)); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	created := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		annotation string
		want       time.Time
	}{
		{"annotated", "2026-11-23T12:01:00Z", created.Add(time.Minute)},
		{"not annotated", "", created.Add(MaxTTL)},
		{"unreadable", "soon", created.Add(MaxTTL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}
			if tt.annotation != "" {
				m.Annotations = map[string]string{AnnotationExpires: tt.annotation}
			}
			if got := expiry(m); !got.Equal(tt.want) {
				t.Errorf("expiry = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewName(t *testing.T) {
	a, b := newName(42), newName(42)
	if a == b || !strings.HasPrefix(a, "quell-jit-42-") || len(a) != len("quell-jit-42-")+6 || strings.ToLower(a) != a {
		t.Errorf("names %q, %q: want distinct quell-jit-42-<6 lower-case characters>", a, b)
	}
}
