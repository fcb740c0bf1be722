package kubemeta

import "testing"

func TestSplitImage(t *testing.T) {
	tests := []struct{ ref, repo, tag, digest string }{
		{"nginx", "nginx", "", ""},
		{"docker.io/library/nginx:1.25", "docker.io/library/nginx", "1.25", ""},
		{"localhost:5000/app:v1@sha256:abc", "localhost:5000/app", "v1", "sha256:abc"},
		{"localhost:5000/app", "localhost:5000/app", "", ""},
		{"ghcr.io/x/y@sha256:def", "ghcr.io/x/y", "", "sha256:def"},
	}
	for _, tt := range tests {
		repo, tag, digest := SplitImage(tt.ref)
		if repo != tt.repo || tag != tt.tag || digest != tt.digest {
			t.Errorf("SplitImage(%q) = %q %q %q", tt.ref, repo, tag, digest)
		}
	}
}

func TestSplitContainerID(t *testing.T) {
	for in, want := range map[string][2]string{
		"containerd://abc": {"containerd", "abc"},
		"cri-o://def":      {"cri-o", "def"},
		"abc":              {"", "abc"},
	} {
		rt, id := splitContainerID(in)
		if rt != want[0] || id != want[1] {
			t.Errorf("%q: %q %q", in, rt, id)
		}
	}
}
