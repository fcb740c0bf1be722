package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Rule is a compiled, evaluable rule.
type Rule struct {
	Name     string
	Desc     string
	Priority Priority
	Source   string
	Tags     []string
	// EventTypes lists the syscall event types the rule can match; nil
	// means any type (and for non-syscall sources).
	EventTypes []string

	// Expanded is the condition after exceptions were appended and macros
	// and lists substituted, in a canonical fully parenthesised form.
	Expanded string

	def   *RuleDef
	sys   *compiled[SyscallEvent]
	audit *compiled[AuditEvent]
}

type compiled[E any] struct {
	rule  *Rule
	match pred[E]
	out   outputFormat[E]
	types typeSet
}

// Skipped records a rule that was not compiled and why.
type Skipped struct {
	Rule   string
	Pos    Position
	Reason string
}

// Engine evaluates compiled rules against events. It is immutable after
// Compile and safe for concurrent use.
type Engine struct {
	rules   []*Rule
	skipped []Skipped
	// disabled counts rules loaded with enabled: false.
	disabled int

	sysByType map[string][]*Rule
	sysOther  []*Rule
	audit     []*Rule
}

// Rules returns the enabled, compiled rules in evaluation order.
func (e *Engine) Rules() []*Rule { return e.rules }

// Skipped returns the rules that were not compiled, with the reason.
func (e *Engine) Skipped() []Skipped { return e.skipped }

// Disabled returns the number of rules loaded with enabled: false.
func (e *Engine) Disabled() int { return e.disabled }

// MatchSyscall appends to dst the rules matching ev, in definition order,
// and returns the extended slice. It does not allocate when nothing matches
// or dst has room.
func (e *Engine) MatchSyscall(dst []*Rule, ev *SyscallEvent) []*Rule {
	rules := e.sysOther
	if t := ev.Type(); t != "" {
		if rs, ok := e.sysByType[t]; ok {
			rules = rs
		}
	}
	for _, r := range rules {
		if r.sys.match(ev) {
			dst = append(dst, r)
		}
	}
	return dst
}

// MatchAudit appends to dst the k8s_audit rules matching ev, in definition
// order.
func (e *Engine) MatchAudit(dst []*Rule, ev *AuditEvent) []*Rule {
	for _, r := range e.audit {
		if r.audit.match(ev) {
			dst = append(dst, r)
		}
	}
	return dst
}

// FormatSyscall renders the rule's output for a syscall event.
func (r *Rule) FormatSyscall(ev *SyscallEvent) string {
	if r.sys == nil {
		return ""
	}
	return r.sys.out.render(ev)
}

// FormatAudit renders the rule's output for an audit event.
func (r *Rule) FormatAudit(ev *AuditEvent) string {
	if r.audit == nil {
		return ""
	}
	return r.audit.out.render(ev)
}

// Compile compiles the enabled rules of rs. Rules that cannot be compiled
// are left out and reported: a rule using a field or source quell does not
// support gets a warning, an invalid rule an error. The Engine is usable
// even when diagnostics contain errors.
func Compile(rs *Ruleset) (*Engine, Diagnostics) {
	c := &compileCtx{rs: rs, eng: &Engine{sysByType: map[string][]*Rule{}}}
	c.prepare()
	for _, def := range rs.Rules {
		c.rule(def)
	}
	c.index()
	return c.eng, c.diags
}

type compileCtx struct {
	rs    *Ruleset
	eng   *Engine
	diags Diagnostics
	res   *resolver
}

func (c *compileCtx) prepare() {
	lists := map[string][]string{}
	for _, l := range c.rs.Lists {
		var items []string
		for _, it := range l.Items {
			if sub, ok := lists[it]; ok {
				items = append(items, sub...)
				continue
			}
			items = append(items, it)
		}
		lists[l.Name] = items
	}
	macros := map[string]*macroInfo{}
	for _, m := range c.rs.Macros {
		mi := &macroInfo{name: m.Name}
		ast, err := parseCondition(m.Condition)
		if err != nil {
			err = locate(m.cond, err)
			mi.err = err
			c.diag(SeverityError, m.Name, fmt.Errorf("macro '%s': %w", m.Name, err))
		} else {
			setSrc(ast, m.cond)
			mi.ast = ast
		}
		macros[m.Name] = mi
	}
	c.res = &resolver{macros: macros, lists: lists}
}

func (c *compileCtx) diag(sev Severity, name string, err error) {
	var le *locError
	pos := Position{}
	if errors.As(err, &le) {
		pos = le.pos
	}
	c.diags = append(c.diags, Diagnostic{Pos: pos, Severity: sev, Rule: name, Msg: err.Error()})
}

func (c *compileCtx) skip(def *RuleDef, sev Severity, err error) {
	var le *locError
	pos := def.Pos
	if errors.As(err, &le) {
		pos = le.pos
	}
	reason := err.Error()
	c.eng.skipped = append(c.eng.skipped, Skipped{Rule: def.Name, Pos: pos, Reason: reason})
	if sev == SeverityWarning {
		err = &locError{pos: pos, err: fmt.Errorf("rule '%s' skipped: %s", def.Name, reason)}
	} else {
		err = &locError{pos: pos, err: fmt.Errorf("rule '%s': %s", def.Name, reason)}
	}
	c.diag(sev, def.Name, err)
}

func (c *compileCtx) rule(def *RuleDef) {
	r := &Rule{Name: def.Name, Desc: def.Desc, Priority: def.Priority, Source: def.Source, Tags: def.Tags, def: def}
	var err error
	switch def.Source {
	case SourceSyscall:
		r.sys, err = compileRule(c, def, r, syscallSource)
		if err == nil {
			if !r.sys.types.neg {
				r.EventTypes = r.sys.types.sortedNames()
			} else if def.WarnEvttypes && def.Enabled {
				c.diag(SeverityWarning, def.Name, &locError{pos: def.Pos, err: fmt.Errorf("rule '%s' does not restrict evt.type and is evaluated for every event", def.Name)})
			}
		}
	case SourceK8sAudit:
		r.audit, err = compileRule(c, def, r, auditSource)
	default:
		c.skip(def, SeverityWarning, fmt.Errorf("source %q is not supported", def.Source))
		return
	}
	if err != nil {
		sev := SeverityError
		if errors.Is(err, ErrUnsupportedField) {
			sev = SeverityWarning
		}
		c.skip(def, sev, err)
		return
	}
	if !def.Enabled {
		c.eng.disabled++
		return
	}
	c.eng.rules = append(c.eng.rules, r)
}

func compileRule[E any](c *compileCtx, def *RuleDef, r *Rule, src *sourceDef[E]) (*compiled[E], error) {
	text, err := ruleCondition(def)
	if err != nil {
		return nil, err
	}
	ast, err := parseCondition(text.text)
	if err != nil {
		return nil, locate(text, err)
	}
	setSrc(ast, text)
	resolved, err := c.res.resolve(ast)
	if err != nil {
		return nil, err
	}
	p, err := compileNode(src, resolved)
	if err != nil {
		return nil, err
	}
	r.Expanded = astString(resolved)
	cr := &compiled[E]{rule: r, match: p, types: allTypes()}
	if src.name == SourceSyscall {
		cr.types = evtTypes(resolved, false)
	}
	if def.output != nil {
		out, unknown, err := compileOutput(src, strings.TrimSpace(def.output.text))
		if err != nil {
			return nil, locate(def.output, err)
		}
		if len(unknown) > 0 && def.Enabled {
			c.diag(SeverityWarning, def.Name, &locError{pos: def.output.posAt(0), err: fmt.Errorf("rule '%s': output fields %s are not supported and render as <NA>", def.Name, strings.Join(unknown, ", "))})
		}
		cr.out = out
	}
	return cr, nil
}

// index builds the per-event-type dispatch tables.
func (c *compileCtx) index() {
	e := c.eng
	known := map[string]bool{}
	for _, r := range e.rules {
		if r.sys != nil {
			for n := range r.sys.types.names {
				known[n] = true
			}
		}
	}
	for t := range known {
		e.sysByType[t] = nil
	}
	for _, r := range e.rules {
		switch {
		case r.sys != nil:
			for t := range known {
				if r.sys.types.contains(t) {
					e.sysByType[t] = append(e.sysByType[t], r)
				}
			}
			if r.sys.types.neg {
				e.sysOther = append(e.sysOther, r)
			}
		case r.audit != nil:
			e.audit = append(e.audit, r)
		}
	}
	for t, rs := range e.sysByType {
		e.sysByType[t] = slices.Clip(rs)
	}
}
