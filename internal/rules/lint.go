package rules

import (
	"fmt"
	"io"
)

// LintReport is the result of validating rules files.
type LintReport struct {
	Diags Diagnostics
	// Loaded counts rules defined by the files (after appends/overrides),
	// Compiled the enabled ones that compiled, Disabled those with
	// enabled: false.
	Loaded, Compiled, Disabled int
	Skipped                    []Skipped
}

// OK reports whether the files have no errors.
func (r *LintReport) OK() bool { return !r.Diags.HasErrors() }

// Lint loads and compiles files (after the built-in rules unless
// noDefaults) and reports every problem.
func Lint(noDefaults bool, files ...File) *LintReport {
	var all []File
	if !noDefaults {
		all = append(all, Builtin())
	}
	all = append(all, files...)
	rs, diags := Load(all...)
	eng, cdiags := Compile(rs)
	return &LintReport{
		Diags:    append(diags, cdiags...),
		Loaded:   len(rs.Rules),
		Compiled: len(eng.Rules()),
		Disabled: eng.Disabled(),
		Skipped:  eng.Skipped(),
	}
}

// Write prints one "file:line:col: message" line per problem followed by a
// summary.
func (r *LintReport) Write(w io.Writer) {
	for _, d := range r.Diags {
		fmt.Fprintln(w, d.String())
	}
	errs := len(r.Diags.Errors())
	fmt.Fprintf(w, "%d rules loaded: %d compiled, %d disabled, %d skipped; %d errors, %d warnings\n",
		r.Loaded, r.Compiled, r.Disabled, len(r.Skipped), errs, len(r.Diags)-errs)
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  skipped %q (%s): %s\n", s.Rule, s.Pos, s.Reason)
	}
}
