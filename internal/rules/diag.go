package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Position is a place in a rules file. Line and Col are 1-based; zero means
// unknown.
type Position struct {
	File string
	Line int
	Col  int
}

func (p Position) String() string {
	file := p.File
	if file == "" {
		file = "<input>"
	}
	return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Col)
}

// Severity classifies a Diagnostic.
type Severity int

const (
	// SeverityError means the file or item is invalid.
	SeverityError Severity = iota
	// SeverityWarning means something was ignored or a rule was skipped.
	SeverityWarning
)

func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one problem found while loading or compiling rules.
type Diagnostic struct {
	Pos      Position
	Severity Severity
	// Rule is the rule (or macro/list) the problem belongs to, if any.
	Rule string
	Msg  string
}

// String renders the diagnostic as "file:line:col: message".
func (d Diagnostic) String() string {
	msg := d.Msg
	if d.Severity == SeverityWarning {
		msg = "warning: " + msg
	}
	return d.Pos.String() + ": " + msg
}

// Diagnostics is a list of problems in the order they were found.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors returns only the errors.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SeverityError {
			out = append(out, d)
		}
	}
	return out
}

// Warnings returns only the warnings.
func (ds Diagnostics) Warnings() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == SeverityWarning {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there are no errors, else an error listing them one per
// line.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	lines := make([]string, len(errs))
	for i, d := range errs {
		lines[i] = d.String()
	}
	return &LoadError{Diags: errs, msg: strings.Join(lines, "\n")}
}

// LoadError is returned when rules files contain errors.
type LoadError struct {
	Diags Diagnostics
	msg   string
}

func (e *LoadError) Error() string { return e.msg }

// ErrUnsupportedField is matched (with errors.Is) by errors about fields quell
// cannot compute for a source.
var ErrUnsupportedField = errors.New("unsupported field")

// fieldError reports a field quell does not know for a source.
type fieldError struct {
	field  string
	source string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("field %q is not supported for source %q", e.field, e.source)
}

func (e *fieldError) Is(target error) bool { return target == ErrUnsupportedField }

// posError is an error at a byte offset within a condition or output string.
type posError struct {
	off int
	msg string
	err error
}

func (e *posError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

func (e *posError) Unwrap() error { return e.err }

func errAt(off int, format string, args ...any) error {
	return &posError{off: off, msg: fmt.Sprintf(format, args...)}
}
