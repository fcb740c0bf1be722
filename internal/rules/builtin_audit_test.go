package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuiltinAuditRules(t *testing.T) {
	privileged := []any{map[string]any{"name": "c", "image": "busybox", "securityContext": map[string]any{"privileged": true}}}
	tests := []struct {
		name  string
		base  string
		edits map[string]any
		want  []string
	}{
		{
			name: "controller-made pod",
			base: "pod_base",
			want: []string{"New K8s Pod"},
		},
		{
			name:  "failed pod creation",
			base:  "pod_base",
			edits: map[string]any{"responseStatus/code": 403},
			want:  []string{},
		},
		{
			name:  "pod creation seen at another stage",
			base:  "pod_base",
			edits: map[string]any{"stage": "RequestReceived"},
			want:  []string{},
		},
		{
			name:  "pod list is not a creation",
			base:  "pod_base",
			edits: map[string]any{"verb": "list"},
			want:  []string{},
		},
		{
			name:  "privileged container",
			base:  "pod_base",
			edits: map[string]any{"requestObject/spec/containers": privileged},
			want:  []string{"New K8s Pod", "Create Privileged Pod"},
		},
		{
			name:  "privileged init container",
			base:  "pod_base",
			edits: map[string]any{"requestObject/spec/initContainers": privileged},
			want:  []string{"New K8s Pod", "Create Privileged Pod"},
		},
		{
			name: "privileged: false",
			base: "pod_base",
			edits: map[string]any{"requestObject/spec/containers": []any{map[string]any{"name": "c", "image": "busybox",
				"securityContext": map[string]any{"privileged": false}}}},
			want: []string{"New K8s Pod"},
		},
		{
			name: "privileged but allowed image",
			base: "pod_base",
			edits: map[string]any{"requestObject/spec/containers": []any{map[string]any{"name": "c", "image": "calico/node:v3.28",
				"securityContext": map[string]any{"privileged": true}}}},
			want: []string{"New K8s Pod"},
		},
		{
			name:  "host network",
			base:  "pod_base",
			edits: map[string]any{"requestObject/spec/hostNetwork": true},
			want:  []string{"New K8s Pod", "Create HostNetwork Pod"},
		},
		{
			name:  "host network false",
			base:  "pod_base",
			edits: map[string]any{"requestObject/spec/hostNetwork": false},
			want:  []string{"New K8s Pod"},
		},
		{
			name:  "host pid",
			base:  "pod_base",
			edits: map[string]any{"requestObject/spec/hostPID": true},
			want:  []string{"New K8s Pod", "Create HostPid Pod"},
		},
		{
			name:  "host ipc",
			base:  "pod_base",
			edits: map[string]any{"requestObject/spec/hostIPC": true},
			want:  []string{"New K8s Pod", "Create HostIPC Pod"},
		},
		{
			name: "docker socket mount",
			base: "pod_base",
			edits: map[string]any{"requestObject/spec/volumes": []any{
				map[string]any{"name": "sock", "hostPath": map[string]any{"path": "/var/run/docker.sock"}}}},
			want: []string{"New K8s Pod", "Create Sensitive Mount Pod"},
		},
		{
			name: "harmless host path",
			base: "pod_base",
			edits: map[string]any{"requestObject/spec/volumes": []any{
				map[string]any{"name": "data", "hostPath": map[string]any{"path": "/data/cache"}}}},
			want: []string{"New K8s Pod"},
		},
		{
			name: "user-made pod in kube-system",
			base: "pod_base",
			edits: map[string]any{"objectRef/namespace": "kube-system", "user/username": "alice",
				"requestObject/metadata/ownerReferences": nil},
			want: []string{"New K8s Pod", "Pod Created in Kube Namespace"},
		},
		{
			name:  "controller-made pod in kube-system",
			base:  "pod_base",
			edits: map[string]any{"objectRef/namespace": "kube-system", "user/username": "system:serviceaccount:kube-system:daemon-set-controller"},
			want:  []string{"New K8s Pod"},
		},
		{
			name:  "kubelet mirror pod in kube-system",
			base:  "pod_base",
			edits: map[string]any{"objectRef/namespace": "kube-system", "user/username": "system:node:worker-1"},
			want:  []string{"New K8s Pod"},
		},
		{
			name: "exec",
			base: "exec_base",
			want: []string{"Attach/Exec Pod"},
		},
		{
			name:  "attach",
			base:  "exec_base",
			edits: map[string]any{"objectRef/subresource": "attach"},
			want:  []string{"Attach/Exec Pod"},
		},
		{
			name:  "exec completion is not reported twice",
			base:  "exec_base",
			edits: map[string]any{"stage": "ResponseComplete"},
			want:  []string{},
		},
		{
			name:  "port-forward is not exec",
			base:  "exec_base",
			edits: map[string]any{"objectRef/subresource": "portforward"},
			want:  []string{},
		},
		{
			name:  "logs is not exec",
			base:  "exec_base",
			edits: map[string]any{"objectRef/subresource": "log", "verb": "get"},
			want:  []string{},
		},
	}
	eng := mustEngine(t, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := auditEvent(t, tt.base, tt.edits)
			got := names(eng.MatchAudit(nil, ev))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuiltinAuditOutputs(t *testing.T) {
	eng := mustEngine(t, false)
	tests := []struct {
		name  string
		base  string
		edits map[string]any
		rule  string
		want  string
	}{
		{
			name: "new pod carries creator, images and owner",
			base: "pod_base",
			rule: "New K8s Pod",
			want: "Pod created (user=system:serviceaccount:kube-system:replicaset-controller pod=nginx-deployment-5cdcc99dbf-rgw6z ns=default images=(nginx:1.27) init_images=<NA> owner_kind=ReplicaSet owner=nginx-deployment-5cdcc99dbf user_agent=kube-controller-manager/v1.30.0)",
		},
		{
			name:  "user-made pod has no owner",
			base:  "pod_base",
			edits: map[string]any{"user/username": "alice", "requestObject/metadata/ownerReferences": nil, "userAgent": "kubectl/v1.30.0"},
			rule:  "New K8s Pod",
			want:  "Pod created (user=alice pod=nginx-deployment-5cdcc99dbf-rgw6z ns=default images=(nginx:1.27) init_images=<NA> owner_kind=<NA> owner=<NA> user_agent=kubectl/v1.30.0)",
		},
		{
			name: "exec carries the command",
			base: "exec_base",
			rule: "Attach/Exec Pod",
			want: "Attach/Exec to pod (user=alice pod=web-7d4b9 ns=default action=exec command=sh container=web)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := auditEvent(t, tt.base, tt.edits)
			for _, r := range eng.MatchAudit(nil, ev) {
				if r.Name == tt.rule {
					if diff := cmp.Diff(tt.want, r.FormatAudit(ev)); diff != "" {
						t.Errorf("output (-want +got):\n%s", diff)
					}
					return
				}
			}
			t.Fatalf("rule %q did not match", tt.rule)
		})
	}
}
