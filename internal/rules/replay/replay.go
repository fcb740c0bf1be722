// Package replay feeds recorded events through a rules engine: it reads
// JSON lines, each an audit.k8s.io/v1 Event or EventList or a syscall event
// {"source":"syscall","time":"RFC3339","fields":{"proc.name":"nc",...}},
// and reports one Alert per matching rule, in input order.
//
// It holds the logic of "quell rules test" so that it can be tested without
// the binary.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"quell.dev/quell/internal/rules"
)

// Alert is one rule match, as printed by "quell rules test".
type Alert struct {
	// Event is the 0-based line of the input the event came from.
	Event    int      `json:"event"`
	Rule     string   `json:"rule"`
	Priority string   `json:"priority"`
	Source   string   `json:"source"`
	Output   string   `json:"output"`
	Tags     []string `json:"tags"`
}

// LineError is a line that could not be decoded; the run continues.
type LineError struct {
	// Line is 0-based, like Alert.Event.
	Line int
	Err  error
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d (event %d): %v", e.Line+1, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Stats summarises a run.
type Stats struct {
	Lines  int
	Events int
	Alerts int
	Errors int
}

// maxLine bounds one input line.
const maxLine = 16 << 20

// Run reads events from r, matches them against eng and calls alert for each
// match, in input order. Lines that cannot be decoded are passed to bad and
// skipped. Run stops early only when ctx is done, when r fails, or when
// alert returns an error.
func Run(ctx context.Context, eng *rules.Engine, r io.Reader, alert func(Alert) error, bad func(*LineError)) (Stats, error) {
	var st Stats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		sys     rules.SyscallEvent
		matches []*rules.Rule
	)
	for n := 0; sc.Scan(); n++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Lines++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		sys.Reset()
		audit, isSys, err := Decode(line, &sys)
		if err != nil {
			st.Errors++
			if bad != nil {
				bad(&LineError{Line: n, Err: err})
			}
			continue
		}
		emit := func(r *rules.Rule, out string) error {
			st.Alerts++
			return alert(Alert{Event: n, Rule: r.Name, Priority: r.Priority.String(), Source: r.Source, Output: out, Tags: tags(r)})
		}
		if isSys {
			st.Events++
			matches = eng.MatchSyscall(matches[:0], &sys)
			for _, r := range matches {
				if err := emit(r, r.FormatSyscall(&sys)); err != nil {
					return st, err
				}
			}
			continue
		}
		for _, ev := range audit {
			st.Events++
			matches = eng.MatchAudit(matches[:0], ev)
			for _, r := range matches {
				if err := emit(r, r.FormatAudit(ev)); err != nil {
					return st, err
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return st, fmt.Errorf("line %d: longer than %d bytes", st.Lines+1, maxLine)
		}
		return st, fmt.Errorf("read events: %w", err)
	}
	return st, nil
}

func tags(r *rules.Rule) []string {
	if r.Tags == nil {
		return []string{}
	}
	return r.Tags
}

// syscallLine is the replay form of a syscall event.
type syscallLine struct {
	Source string         `json:"source"`
	Time   string         `json:"time"`
	Fields map[string]any `json:"fields"`
}

// Decode decodes one replay line. A syscall event is written into sys (which
// the caller has reset) and isSys is true; an audit Event or EventList
// yields audit events.
func Decode(line []byte, sys *rules.SyscallEvent) (audit []*rules.AuditEvent, isSys bool, err error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Source     string `json:"source"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, false, fmt.Errorf("invalid JSON: %w", err)
	}
	switch {
	case rules.IsAuditJSON(head.APIVersion, head.Kind):
		evs, err := rules.DecodeAudit(line)
		return evs, false, err
	case head.Source == rules.SourceSyscall:
		return nil, true, decodeSyscall(line, sys)
	case head.Source != "":
		return nil, false, fmt.Errorf("unsupported source %q (want %q or an audit.k8s.io/v1 Event)", head.Source, rules.SourceSyscall)
	}
	return nil, false, fmt.Errorf("not an event: want an audit.k8s.io/v1 Event or EventList, or {\"source\":\"syscall\",...}")
}

func decodeSyscall(line []byte, sys *rules.SyscallEvent) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var sl syscallLine
	if err := dec.Decode(&sl); err != nil {
		return fmt.Errorf("invalid syscall event: %w", err)
	}
	if sl.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, sl.Time)
		if err != nil {
			return fmt.Errorf("invalid time %q: want RFC 3339", sl.Time)
		}
		sys.SetTime(t)
	}
	var errs []error
	for name, v := range sl.Fields {
		if err := sys.SetField(name, v); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	complete(sys)
	return nil
}

// complete derives fields a sensor would fill from the ones given:
// proc.args from proc.cmdline (and back), fd.directory and fd.filename from
// a file's fd.name.
func complete(e *rules.SyscallEvent) {
	cmd, hasCmd := e.String(rules.ProcCmdline)
	args, hasArgs := e.String(rules.ProcArgs)
	switch {
	case hasCmd && !hasArgs:
		_, rest, _ := strings.Cut(cmd, " ")
		e.SetString(rules.ProcArgs, rest)
	case hasArgs && !hasCmd:
		if name, ok := e.String(rules.ProcName); ok {
			e.SetString(rules.ProcCmdline, strings.TrimSpace(name+" "+args))
		}
	}
	if name, ok := e.String(rules.FdName); ok && strings.HasPrefix(name, "/") {
		i := strings.LastIndexByte(name, '/')
		if !e.Has(rules.FdDirectory) {
			dir := name[:i]
			if dir == "" {
				dir = "/"
			}
			e.SetString(rules.FdDirectory, dir)
		}
		if !e.Has(rules.FdFilename) {
			e.SetString(rules.FdFilename, name[i+1:])
		}
	}
}
