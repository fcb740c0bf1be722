package playbook

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
	"quell.dev/quell/internal/rules"
)

// Credentials modes.
const (
	CredentialsStanding = config.CredentialsStanding // act with quell's own identity
	CredentialsJIT      = config.CredentialsJIT      // a ServiceAccount, Role and RoleBinding per response
)

// Step kinds.
const (
	StepValidate = "validate"
	StepEnrich   = "enrich"
	StepDecide   = "decide"
	StepAction   = "action"
)

// OnError values.
const (
	OnErrorStop     = "stop"
	OnErrorContinue = "continue"
)

// Policy is a validated set of playbooks and an allowlist; it is immutable.
type Policy struct {
	Allow     []Allow
	Playbooks []*Playbook // tried in order; the built-in playbook is not among them
}

// Allow is a compiled allowlist entry.
type Allow struct {
	Reason                              string
	Where                               string // file:line
	rules, namespaces, images, accounts []string
	selector                            labels.Selector
}

// Playbook is a compiled playbook.
type Playbook struct {
	Name        string
	Where       string // file:line, "built-in" or "manual"
	Mode        string // empty: the engine's mode
	Credentials string // empty: the engine's
	MinSeverity incident.Severity
	Steps       []Step
	match       matcher
}

// Step is one compiled step.
type Step struct {
	Kind     string
	Action   string
	Approval Approval
	OnError  string
}

// Approval is what a step needs before it acts.
type Approval struct {
	Required  bool
	AutoAfter time.Duration // >0: act unless vetoed within it
	Reason    string        // why approval is needed
}

// Needed reports whether the step waits for a person.
func (a Approval) Needed() bool { return a.Required || a.AutoAfter > 0 }

type matcher struct {
	rules, tags, sources, namespaces []string
	clusters                         []string
	minPriority                      *rules.Priority
	selector                         labels.Selector
	exRules, exNamespaces, exImages  []string
	exSelector                       labels.Selector
}

// Builtin is the built-in playbook: validate, enrich, decide, in mode.
func Builtin(mode string) *Playbook {
	return &Playbook{Name: "built-in", Where: "built-in", Mode: mode, MinSeverity: incident.SeverityLow,
		Steps: []Step{{Kind: StepValidate}, {Kind: StepEnrich}, {Kind: StepDecide, OnError: OnErrorStop}}}
}

// LoadPolicy reads and validates playbook files; every problem in every
// file is reported at once.
func LoadPolicy(reg *respond.Registry, files ...string) (*Policy, error) {
	p := &Policy{}
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("read playbooks: %w", err))
			continue
		}
		one, err := ParsePolicy(reg, f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.Allow = append(p.Allow, one.Allow...)
		p.Playbooks = append(p.Playbooks, one.Playbooks...)
	}
	seen := map[string]string{}
	for _, pb := range p.Playbooks {
		if prev, dup := seen[pb.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: playbook %q is already defined at %s", pb.Where, pb.Name, prev))
		}
		seen[pb.Name] = pb.Where
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// ParsePolicy parses and validates one playbook file named name.
func ParsePolicy(reg *respond.Registry, name string, data []byte) (*Policy, error) {
	spec, lines, err := decodeFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := compiler{reg: reg, file: name, lines: lines}
	p := &Policy{}
	for i, a := range spec.Allowlist {
		p.Allow = append(p.Allow, c.allow(fmt.Sprintf("allowlist[%d]", i), a))
	}
	for i, s := range spec.Playbooks {
		p.Playbooks = append(p.Playbooks, c.playbook(fmt.Sprintf("playbooks[%d]", i), s))
	}
	if err := errors.Join(c.errs...); err != nil {
		return nil, err
	}
	return p, nil
}

type compiler struct {
	reg   *respond.Registry
	file  string
	lines map[string]int
	errs  []error
}

// at names a YAML path with its file and line.
func (c *compiler) at(p string) string {
	for q := p; q != ""; {
		if l, ok := c.lines[q]; ok {
			return fmt.Sprintf("%s:%d", c.file, l)
		}
		i := strings.LastIndexAny(q, ".[")
		if i < 0 {
			break
		}
		q = q[:i]
	}
	return c.file
}

func (c *compiler) fail(p, format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s: %s", c.at(p), p, fmt.Sprintf(format, args...)))
}

func (c *compiler) globs(p string, gs []string) []string {
	for i, g := range gs {
		if g == "" {
			c.fail(fmt.Sprintf("%s[%d]", p, i), "an empty pattern matches nothing; remove it")
		}
	}
	return gs
}

func (c *compiler) selector(p, s string) labels.Selector {
	if s == "" {
		return nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		c.fail(p, "invalid label selector: %v", err)
		return nil
	}
	return sel
}

func (c *compiler) allow(p string, a AllowSpec) Allow {
	out := Allow{Reason: a.Reason, Where: c.at(p),
		rules: c.globs(p+".rules", a.Rules), namespaces: c.globs(p+".namespaces", a.Namespaces),
		images: c.globs(p+".images", a.Images), accounts: c.globs(p+".service_accounts", a.ServiceAccounts),
		selector: c.selector(p+".selector", a.Selector)}
	if len(a.Rules)+len(a.Namespaces)+len(a.Images)+len(a.ServiceAccounts) == 0 && a.Selector == "" {
		c.fail(p, "an allowlist entry needs at least one of rules, namespaces, images, service_accounts, selector")
	}
	if out.Reason == "" {
		c.fail(p+".reason", "say why this is allowed; the reason is recorded in every incident it spares")
	}
	return out
}

func (c *compiler) playbook(p string, s PlaybookSpec) *Playbook {
	pb := &Playbook{Name: s.Name, Where: c.at(p), Mode: s.Mode, Credentials: s.Credentials, MinSeverity: incident.SeverityLow}
	if s.Name == "" {
		c.fail(p+".name", "a playbook needs a name")
	}
	if s.Mode != "" && !slices.Contains([]string{config.ModeObserve, config.ModeDryRun, config.ModeEnforce}, s.Mode) {
		c.fail(p+".mode", "%q is not one of observe, dry-run, enforce", s.Mode)
	}
	if s.Credentials != "" && s.Credentials != CredentialsStanding && s.Credentials != CredentialsJIT {
		c.fail(p+".credentials", "%q is not one of standing, jit", s.Credentials)
	}
	pb.match = c.match(p+".match", s.Match)
	if len(s.Steps) == 0 {
		c.fail(p+".steps", "a playbook needs at least one step")
	}
	for i, st := range s.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", p, i)
		step, minSev := c.step(sp, st)
		if step.Kind == StepValidate && minSev != nil {
			pb.MinSeverity = *minSev
		}
		pb.Steps = append(pb.Steps, step)
	}
	return pb
}

func (c *compiler) match(p string, m MatchSpec) matcher {
	out := matcher{rules: c.globs(p+".rules", m.Rules), tags: m.Tags, sources: m.Sources,
		namespaces: c.globs(p+".namespaces", m.Namespaces), clusters: c.globs(p+".clusters", m.Clusters),
		selector: c.selector(p+".selector", m.Selector)}
	if m.Priority != "" {
		pr, err := rules.ParsePriority(m.Priority)
		if err != nil {
			c.fail(p+".priority", "%v", err)
		}
		out.minPriority = &pr
	}
	if x := m.Exclude; x != nil {
		out.exRules = c.globs(p+".exclude.rules", x.Rules)
		out.exNamespaces = c.globs(p+".exclude.namespaces", x.Namespaces)
		out.exImages = c.globs(p+".exclude.images", x.Images)
		out.exSelector = c.selector(p+".exclude.selector", x.Selector)
	}
	return out
}

func (c *compiler) step(p string, s StepSpec) (Step, *incident.Severity) {
	st := Step{Kind: s.Step, Action: s.Action, OnError: s.OnError}
	switch {
	case s.Step != "" && s.Action != "":
		c.fail(p, "a step has either step or action, not both")
	case s.Action != "":
		st.Kind = StepAction
		if _, ok := c.reg.Get(s.Action); !ok {
			c.fail(p+".action", "unknown action %q (known: %s)", s.Action, strings.Join(c.reg.Names(), ", "))
		}
	case !slices.Contains([]string{StepValidate, StepEnrich, StepDecide}, s.Step):
		c.fail(p, "unknown step %q (want validate, enrich, decide, or action: NAME)", s.Step)
	}
	switch s.OnError {
	case "":
		st.OnError = OnErrorStop
		if s.Action == respond.ActionEvidence {
			st.OnError = OnErrorContinue // evidence is best effort unless a playbook says otherwise
		}
	case OnErrorStop, OnErrorContinue:
	default:
		c.fail(p+".on_error", "%q is not one of stop, continue", s.OnError)
	}
	if s.Approve != "" {
		if st.Kind != StepAction && st.Kind != StepDecide {
			c.fail(p+".approve", "only action and decide steps can require approval")
		}
		a, err := parseApproval(s.Approve)
		if err != nil {
			c.fail(p+".approve", "%v", err)
		}
		st.Approval = a
	}
	var minSev *incident.Severity
	if s.MinSeverity != "" {
		if st.Kind != StepValidate {
			c.fail(p+".min_severity", "only the validate step takes min_severity")
		}
		sev, err := incident.ParseSeverity(s.MinSeverity)
		if err != nil {
			c.fail(p+".min_severity", "%v", err)
		}
		minSev = &sev
	}
	return st, minSev
}

// parseApproval parses "required" or "auto-after DURATION".
func parseApproval(s string) (Approval, error) {
	if s == "required" {
		return Approval{Required: true, Reason: "the playbook requires approval"}, nil
	}
	if d, ok := strings.CutPrefix(s, "auto-after "); ok {
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil || dur <= 0 {
			return Approval{}, fmt.Errorf("%q: want a positive duration after auto-after, e.g. auto-after 5m", s)
		}
		return Approval{AutoAfter: dur, Reason: "the playbook acts after " + dur.String() + " unless vetoed"}, nil
	}
	return Approval{}, fmt.Errorf("%q is not one of required, auto-after DURATION", s)
}
