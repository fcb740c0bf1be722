package playbook

import (
	"cmp"
	"slices"

	"quell.dev/quell/internal/rules"
)

// RuleRef is a loaded rule, as Describe matches playbooks against it.
type RuleRef struct {
	Name     string   `json:"name"`
	Priority string   `json:"priority"`
	Source   string   `json:"source"`
	Tags     []string `json:"tags,omitempty"`
}

// PlaybookView describes one playbook for people: what it matches, what
// it does, in which mode, and which of the loaded rules it takes (the
// first playbook whose rule, priority, tag and source conditions a rule's
// alerts meet; namespaces, clusters, labels and exclusions still decide per
// alert).
type PlaybookView struct {
	Name        string              `json:"name"`
	Where       string              `json:"where"`
	Mode        string              `json:"mode"`
	Credentials string              `json:"credentials"`
	MinSeverity string              `json:"min_severity"`
	Match       map[string][]string `json:"match,omitempty"`
	Steps       []string            `json:"steps"`
	Rules       []string            `json:"rules"`
}

// Describe lists the user's playbooks, then the built-in one, with the
// rules of loaded each takes; the built-in one takes the rest.
func (e *Engine) Describe(loaded []RuleRef) []PlaybookView {
	pol := e.policy.Load()
	all := append(slices.Clone(pol.Playbooks), e.builtin)
	views := make([]PlaybookView, len(all))
	for i, pb := range all {
		v := PlaybookView{Name: pb.Name, Where: pb.Where, Mode: cmp.Or(pb.Mode, e.opts.Mode), Credentials: cmp.Or(pb.Credentials, e.opts.Credentials, "default"),
			MinSeverity: pb.MinSeverity.String(), Match: pb.match.describe(), Rules: []string{}}
		for _, st := range pb.Steps {
			s := st.Kind
			if st.Action != "" {
				s += " " + st.Action
			}
			if st.Approval.Required {
				s += " (approval required)"
			} else if st.Approval.AutoAfter > 0 {
				s += " (auto-approved after " + st.Approval.AutoAfter.String() + " unless vetoed)"
			}
			v.Steps = append(v.Steps, s)
		}
		views[i] = v
	}
	for _, r := range loaded {
		i := slices.IndexFunc(pol.Playbooks, func(pb *Playbook) bool { return pb.match.takesRule(r) })
		if i < 0 {
			i = len(all) - 1
		}
		views[i].Rules = append(views[i].Rules, r.Name)
	}
	return views
}

// takesRule reports whether alerts of r can meet m's rule, priority, tag
// and source conditions.
func (m *matcher) takesRule(r RuleRef) bool {
	if len(m.rules) > 0 && !anyGlob(m.rules, r.Name) || anyGlob(m.exRules, r.Name) {
		return false
	}
	if m.minPriority != nil {
		pr, err := rules.ParsePriority(r.Priority)
		if err != nil || pr > *m.minPriority {
			return false
		}
	}
	if len(m.tags) > 0 && !slices.ContainsFunc(r.Tags, func(t string) bool { return slices.Contains(m.tags, t) }) {
		return false
	}
	return len(m.sources) == 0 || slices.Contains(m.sources, r.Source)
}

func (m *matcher) describe() map[string][]string {
	d := map[string][]string{}
	add := func(k string, v []string) {
		if len(v) > 0 {
			d[k] = v
		}
	}
	add("rules", m.rules)
	add("tags", m.tags)
	add("sources", m.sources)
	add("namespaces", m.namespaces)
	add("clusters", m.clusters)
	add("not_rules", m.exRules)
	add("not_namespaces", m.exNamespaces)
	add("not_images", m.exImages)
	if m.minPriority != nil {
		d["min_priority"] = []string{m.minPriority.String()}
	}
	if m.selector != nil {
		d["labels"] = []string{m.selector.String()}
	}
	if m.exSelector != nil {
		d["not_labels"] = []string{m.exSelector.String()}
	}
	return d
}
