package rules

import (
	"fmt"
	"strings"
)

// Priority is a rule's severity, from Emergency (0) to Debug (7).
type Priority int

// Priorities, highest first.
const (
	PriorityEmergency Priority = iota
	PriorityAlert
	PriorityCritical
	PriorityError
	PriorityWarning
	PriorityNotice
	PriorityInformational
	PriorityDebug
)

var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// String returns the long form used in alerts ("Informational", not "Info").
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityNames[p]
}

// ParsePriority parses a priority name, case-insensitively; "info" is
// accepted for Informational.
func ParsePriority(s string) (Priority, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	if l == "info" {
		return PriorityInformational, nil
	}
	for i, n := range priorityNames {
		if strings.ToLower(n) == l {
			return Priority(i), nil
		}
	}
	return 0, fmt.Errorf("invalid priority %q (want one of emergency, alert, critical, error, warning, notice, informational, debug)", s)
}

// Ruleset is the result of loading rules files: lists, macros and rules in
// definition order, after appends and overrides. It is plain data; Compile
// turns it into an Engine.
type Ruleset struct {
	Lists  []*ListDef
	Macros []*MacroDef
	Rules  []*RuleDef
	// RequiredEngineVersion is the highest version any file asked for.
	RequiredEngineVersion string

	lists  map[string]*ListDef
	macros map[string]*MacroDef
	rules  map[string]*RuleDef
}

// ListDef is a named list of values.
type ListDef struct {
	Name  string
	Items []string
	Pos   Position
}

// MacroDef is a named condition fragment.
type MacroDef struct {
	Name      string
	Condition string
	Pos       Position
	cond      *condText
}

// RuleDef is a rule as loaded from files.
type RuleDef struct {
	Name                string
	Desc                string
	Condition           string
	Output              string
	Priority            Priority
	Source              string
	Enabled             bool
	Tags                []string
	Exceptions          []*ExceptionDef
	WarnEvttypes        bool
	SkipIfUnknownFilter bool
	Pos                 Position

	cond   *condText
	output *condText
}

// ExceptionDef is one entry of a rule's exceptions.
type ExceptionDef struct {
	Name string
	// Fields holds the field names; FieldsIsList is false when the YAML
	// gave a single scalar field.
	Fields       []string
	FieldsIsList bool
	Comps        []string
	// Values holds one tuple per entry; with a scalar field each tuple has
	// one element. An element is a string or a []string.
	Values [][]any
	Pos    Position
}

// Rule returns the rule with the given name, or nil.
func (rs *Ruleset) Rule(name string) *RuleDef { return rs.rules[name] }

func newRuleset() *Ruleset {
	return &Ruleset{
		lists:  map[string]*ListDef{},
		macros: map[string]*MacroDef{},
		rules:  map[string]*RuleDef{},
	}
}
