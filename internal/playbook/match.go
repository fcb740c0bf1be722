package playbook

import (
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/rules"
)

// subject is what matching looks at: the alert and, when the pod was
// resolved, its labels, images and service account.
type subject struct {
	alert    incident.Alert
	ns       string
	labels   map[string]string
	images   []string
	account  string // NAMESPACE/NAME, empty when unknown
	resolved bool   // the pod was resolved: labels, images and account are known
}

func subjectOf(a incident.Alert, f Facts) subject {
	s := subject{alert: a, ns: a.Target.Namespace}
	if f.Chain != nil {
		s.resolved = true
		s.labels = f.Chain.PodLabels
		s.images = f.Chain.PodImages
		if f.Chain.ServiceAccount != "" {
			s.account = f.Chain.Namespace + "/" + f.Chain.ServiceAccount
		}
	}
	return s
}

// Select returns the first playbook matching s, or nil.
func (p *Policy) selectFor(s subject) *Playbook {
	for _, pb := range p.Playbooks {
		if pb.match.matches(s) {
			return pb
		}
	}
	return nil
}

// allowed returns the allowlist entry sparing s, or nil.
func (p *Policy) allowed(s subject) *Allow {
	for i := range p.Allow {
		if p.Allow[i].matches(s) {
			return &p.Allow[i]
		}
	}
	return nil
}

func (a *Allow) matches(s subject) bool {
	if len(a.rules) > 0 && !anyGlob(a.rules, s.alert.Rule) {
		return false
	}
	if len(a.namespaces) > 0 && !anyGlob(a.namespaces, s.ns) {
		return false
	}
	if len(a.images) > 0 && !anyGlobOf(a.images, s.images) {
		return false
	}
	if len(a.accounts) > 0 && (s.account == "" || !anyGlob(a.accounts, s.account)) {
		return false
	}
	if a.selector != nil && (!s.resolved || !a.selector.Matches(labels.Set(s.labels))) {
		return false
	}
	return true
}

func (m *matcher) matches(s subject) bool {
	a := s.alert
	if len(m.rules) > 0 && !anyGlob(m.rules, a.Rule) {
		return false
	}
	if m.minPriority != nil {
		pr, err := rules.ParsePriority(a.Priority)
		if err != nil || pr > *m.minPriority { // lower value = higher priority
			return false
		}
	}
	if len(m.tags) > 0 && !slices.ContainsFunc(a.Tags, func(t string) bool { return slices.Contains(m.tags, t) }) {
		return false
	}
	if len(m.sources) > 0 && !slices.Contains(m.sources, a.Source) {
		return false
	}
	if len(m.namespaces) > 0 && !anyGlob(m.namespaces, s.ns) {
		return false
	}
	if len(m.clusters) > 0 && !anyGlob(m.clusters, a.Target.Cluster) {
		return false
	}
	if m.selector != nil && (!s.resolved || !m.selector.Matches(labels.Set(s.labels))) {
		return false
	}
	switch {
	case anyGlob(m.exRules, a.Rule), anyGlob(m.exNamespaces, s.ns), anyGlobOf(m.exImages, s.images):
		return false
	case m.exSelector != nil && s.resolved && m.exSelector.Matches(labels.Set(s.labels)):
		return false
	}
	return true
}

func anyGlob(globs []string, v string) bool {
	for _, g := range globs {
		if glob(g, v) {
			return true
		}
	}
	return false
}

// glob reports whether s matches pattern, where * matches any run of
// characters ("/" and ":" included, so "*/miner:*" matches any registry)
// and ? any one character.
func glob(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// anyGlobOf reports whether any value matches any glob.
func anyGlobOf(globs, vs []string) bool {
	for _, v := range vs {
		if anyGlob(globs, v) {
			return true
		}
	}
	return false
}
