package playbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"gopkg.in/yaml.v3"
)

// FileSpec is a playbook file as written: an allowlist that holds for every
// playbook, and playbooks tried in order (the first that matches an alert
// handles it; the built-in playbook handles the rest).
//
//	allowlist:
//	  - images: ["registry.example.com/scanner:*"]
//	    reason: the security team's scanner
//	playbooks:
//	  - name: contain-miners
//	    match: {rules: ["*mining*"], priority: warning, namespaces: ["prod-*"], clusters: ["prod-*"]}
//	    mode: enforce
//	    steps:
//	      - validate
//	      - enrich
//	      - action: capture-evidence
//	      - action: suspend-workload
//	        approve: auto-after 5m
type FileSpec struct {
	Allowlist []AllowSpec    `yaml:"allowlist"`
	Playbooks []PlaybookSpec `yaml:"playbooks"`
}

// AllowSpec is one allowlist entry: an alert it matches is never acted on.
// Every field given must match; in patterns * matches any run of
// characters and ? one.
type AllowSpec struct {
	Reason          string   `yaml:"reason"`
	Rules           []string `yaml:"rules"`
	Namespaces      []string `yaml:"namespaces"`
	Images          []string `yaml:"images"`
	ServiceAccounts []string `yaml:"service_accounts"` // NAMESPACE/NAME globs
	Selector        string   `yaml:"selector"`         // pod label selector
}

// PlaybookSpec is one playbook as written.
type PlaybookSpec struct {
	Name        string     `yaml:"name"`
	Match       MatchSpec  `yaml:"match"`
	Mode        string     `yaml:"mode"`        // observe, dry-run, enforce; default the server's mode
	Credentials string     `yaml:"credentials"` // standing or jit; default the server's
	Steps       []StepSpec `yaml:"steps"`
}

// MatchSpec selects the alerts a playbook handles. Empty fields match
// everything; list fields match when any element does.
type MatchSpec struct {
	Rules      []string     `yaml:"rules"`    // rule names or globs
	Priority   string       `yaml:"priority"` // minimum Falco priority
	Tags       []string     `yaml:"tags"`
	Sources    []string     `yaml:"sources"`    // falco, audit, sensor, podwatch, api, manual
	Namespaces []string     `yaml:"namespaces"` // globs
	Clusters   []string     `yaml:"clusters"`   // cluster names (kubernetes.clusters) or globs
	Selector   string       `yaml:"selector"`   // pod label selector
	Exclude    *ExcludeSpec `yaml:"exclude"`
}

// ExcludeSpec removes alerts from a match; any field matching excludes.
type ExcludeSpec struct {
	Rules      []string `yaml:"rules"`
	Namespaces []string `yaml:"namespaces"`
	Images     []string `yaml:"images"`
	Selector   string   `yaml:"selector"`
}

// StepSpec is one step: "validate", "enrich" or "decide" alone, or a
// mapping with step or action and its options.
type StepSpec struct {
	Step        string `yaml:"step"`         // validate, enrich, decide
	Action      string `yaml:"action"`       // a registered action name
	Approve     string `yaml:"approve"`      // "", "required", "auto-after DURATION"
	OnError     string `yaml:"on_error"`     // stop (default; the incident fails) or continue
	MinSeverity string `yaml:"min_severity"` // validate: least incident severity to act on
}

// UnmarshalYAML accepts the scalar shorthand and rejects unknown keys.
func (s *StepSpec) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Step = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a step is a name (validate, enrich, decide) or a mapping", n.Line)
	}
	known := map[string]bool{"step": true, "action": true, "approve": true, "on_error": true, "min_severity": true}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return fmt.Errorf("line %d: field %s not found in a step (want step, action, approve, on_error, min_severity)", k.Line, k.Value)
		}
	}
	type plain StepSpec
	return n.Decode((*plain)(s))
}

// decodeFile decodes one playbook file strictly and maps each YAML path
// (playbooks[0].steps[1]) to its line, for errors that say where.
func decodeFile(data []byte) (FileSpec, map[string]int, error) {
	var spec FileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&spec); err != nil && !errors.Is(err, io.EOF) {
		return spec, nil, err
	}
	var root yaml.Node
	lines := map[string]int{}
	if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
		walkLines(root.Content[0], "", lines)
	}
	return spec, lines, nil
}

func walkLines(n *yaml.Node, path string, lines map[string]int) {
	if path != "" {
		lines[path] = n.Line
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := n.Content[i].Value
			if path != "" {
				p = path + "." + p
			}
			lines[p] = n.Content[i].Line
			walkLines(n.Content[i+1], p, lines)
			lines[p] = n.Content[i].Line
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			walkLines(c, path+"["+strconv.Itoa(i)+"]", lines)
		}
	}
}
