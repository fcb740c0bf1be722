package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPlaybooksLint(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"valid", []string{"playbooks", "lint", "../../internal/playbook/testdata/playbooks.yaml"}, 0, "ok: 2 playbooks, 2 allowlist entries"},
		{"invalid", []string{"playbooks", "lint", "../../internal/playbook/testdata/bad.yaml"}, 1, `bad.yaml:11: playbooks[0].steps[1].action: unknown action "nuke-cluster"`},
		{"missing file", []string{"playbooks", "lint", "nope.yaml"}, 1, "nope.yaml"},
		{"no files", []string{"playbooks", "lint"}, 2, ""},
		{"no verb", []string{"playbooks"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errOut, nil)
			code := 0
			var ec exitCoder
			if errors.As(err, &ec) {
				code = ec.ExitCode()
			} else if err != nil {
				code = 1
			}
			if code != tc.code {
				t.Fatalf("exit %d (%v), want %d\n%s%s", code, err, tc.code, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("output %q lacks %q", out.String(), tc.out)
			}
		})
	}
}
