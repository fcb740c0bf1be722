package container

import (
	"strings"
	"testing"
)

const id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestFromPath(t *testing.T) {
	tests := []struct {
		path, want string
	}{
		{"/", Host},
		{"", Host},
		{"/init.scope", Host},
		{"/system.slice/containerd.service", Host},
		{"/kubepods/besteffort/pod5c1f0e0a-1b2c-4d5e-8f90-123456789abc/" + id, id},
		{"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod5c1f.slice/cri-containerd-" + id + ".scope", id},
		{"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/crio-" + id + ".scope", id},
		{"/system.slice/docker-" + id + ".scope", id},
		{"/docker/" + id, id},
		{"/quell-test/" + id, id},
		{"/machine.slice/libpod-" + id + ".scope/container", id},
		{"/kubepods/pod1/" + id + "/nested", id},
		{"/crio-conmon-" + id + ".scope", Host},
		{"/docker/" + strings.ToUpper(id), Host},
		{"/docker/" + id[:63], Host},
	}
	for _, tt := range tests {
		if got := FromPath(tt.path); got != tt.want {
			t.Errorf("FromPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestFromNames(t *testing.T) {
	if got := FromNames([]byte("cri-containerd-"+id+".scope"), []byte("kubepods-pod1.slice")); got != id {
		t.Errorf("leaf: got %q", got)
	}
	if got := FromNames([]byte("init.scope"), []byte(id)); got != id {
		t.Errorf("parent: got %q", got)
	}
	if got := FromNames(nil, nil); got != Host {
		t.Errorf("root: got %q", got)
	}
}

func TestFromCgroupFile(t *testing.T) {
	hybrid := "12:cpu,cpuacct:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n0::/\n"
	if got, err := fromCgroupFile(strings.NewReader(hybrid)); err != nil || got != id {
		t.Errorf("hybrid with v2 at root: %q, %v", got, err)
	}
	v2 := "0::/system.slice/docker-" + id + ".scope\n"
	if got, _ := fromCgroupFile(strings.NewReader(v2)); got != id {
		t.Errorf("v2: %q", got)
	}
	if got, _ := fromCgroupFile(strings.NewReader("0::/user.slice\n")); got != Host {
		t.Errorf("host: %q", got)
	}
	if got := Short(id); got != id[:12] {
		t.Errorf("Short: %q", got)
	}
}
