// Package incident defines quell's incidents: alerts about one target
// correlated over a window, with a state machine, a severity and a timeline
// of typed entries, and the Store interface that keeps them durably.
//
// Store implementations (internal/incident/sqlstore for SQLite and
// PostgreSQL) must make every write transactional: once a call returns nil
// the data survives a crash. All methods are safe for concurrent use.
package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is where an incident is in its life.
type State string

// States. Open is new; acting means a response runs; contained means the
// response verified the threat is gone; the last three are final.
const (
	StateOpen          State = "open"
	StateActing        State = "acting"
	StateContained     State = "contained"
	StateResolved      State = "resolved"
	StateFalsePositive State = "false-positive"
	StateFailed        State = "failed"
)

// States lists every state in life order.
func States() []State {
	return []State{StateOpen, StateActing, StateContained, StateResolved, StateFalsePositive, StateFailed}
}

// transitions is the state machine: from -> allowed targets.
var transitions = map[State][]State{
	StateOpen:          {StateActing, StateContained, StateResolved, StateFalsePositive, StateFailed},
	StateActing:        {StateContained, StateFailed, StateResolved, StateFalsePositive},
	StateContained:     {StateResolved, StateFalsePositive, StateActing, StateFailed},
	StateFailed:        {StateActing, StateResolved, StateFalsePositive},
	StateResolved:      {StateOpen},
	StateFalsePositive: {StateOpen},
}

// CanTransition reports whether from -> to is allowed.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Final reports whether s ends an incident; a new alert on its target opens
// a new incident.
func (s State) Final() bool {
	return s == StateResolved || s == StateFalsePositive
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Severity orders incidents; it follows the highest alert priority.
type Severity int

// Severities, from least to most severe.
const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name.
func ParseSeverity(v string) (Severity, error) {
	for i, n := range severityNames {
		if n == v {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, low, medium, high or critical)", v)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// SeverityForPriority maps a Falco priority (Emergency ... Debug, any case)
// to a severity.
func SeverityForPriority(p string) Severity {
	switch normalizePriority(p) {
	case "emergency", "alert", "critical":
		return SeverityCritical
	case "error":
		return SeverityHigh
	case "warning":
		return SeverityMedium
	case "notice":
		return SeverityLow
	default:
		return SeverityInfo
	}
}

// TargetKind is what an incident is about.
type TargetKind string

// Target kinds.
const (
	TargetWorkload TargetKind = "workload" // pods of one controller
	TargetPod      TargetKind = "pod"      // a bare pod, or a pod whose owner is unknown yet
	TargetNode     TargetKind = "node"     // host-level threat
	TargetCluster  TargetKind = "cluster"  // nothing narrower known
)

// Target names what an incident is about. Key is its correlation key.
type Target struct {
	Cluster      string     `json:"cluster"`
	Kind         TargetKind `json:"kind"`
	Namespace    string     `json:"namespace,omitempty"`
	WorkloadKind string     `json:"workload_kind,omitempty"` // Deployment, StatefulSet, ...
	Name         string     `json:"name,omitempty"`          // workload, pod or node name
	Pod          string     `json:"pod,omitempty"`           // the pod that alerted, if any
	Container    string     `json:"container,omitempty"`     // container ID, if known
	Node         string     `json:"node,omitempty"`
}

// Key is the correlation key: alerts with the same key within the window
// join one incident.
func (t Target) Key() string {
	switch t.Kind {
	case TargetWorkload:
		return fmt.Sprintf("%s/workload/%s/%s/%s", t.Cluster, t.Namespace, t.WorkloadKind, t.Name)
	case TargetPod:
		return fmt.Sprintf("%s/pod/%s/%s", t.Cluster, t.Namespace, t.Name)
	case TargetNode:
		return fmt.Sprintf("%s/node/%s", t.Cluster, t.Name)
	default:
		return t.Cluster + "/cluster"
	}
}

// Alert is one detection, from any source, normalised.
type Alert struct {
	Source   string         `json:"source"` // falco, audit, sensor, podwatch, api
	Rule     string         `json:"rule"`
	Priority string         `json:"priority"` // Falco priority name
	Time     time.Time      `json:"time"`
	Output   string         `json:"output"`
	Tags     []string       `json:"tags,omitempty"`
	Hostname string         `json:"hostname,omitempty"`
	Fields   map[string]any `json:"fields,omitempty"`
	Target   Target         `json:"target"`
}

// DedupKey identifies identical alerts: same rule, target and output.
func (a *Alert) DedupKey() string {
	return a.Rule + "\x00" + a.Target.Key() + "\x00" + a.Target.Pod + "\x00" + a.Output
}

// Incident is a correlated set of alerts about one target.
type Incident struct {
	ID         int64     `json:"id"`
	Key        string    `json:"key"`
	Title      string    `json:"title"`
	State      State     `json:"state"`
	Severity   Severity  `json:"severity"`
	Target     Target    `json:"target"`
	Rules      []string  `json:"rules"`       // distinct rules seen, first first
	AlertCount int       `json:"alert_count"` // alerts recorded
	DedupCount int       `json:"dedup_count"` // identical alerts counted, not recorded again
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// EntryType is the kind of a timeline entry.
type EntryType string

// Timeline entry types.
const (
	EntryAlert           EntryType = "alert"
	EntryEnrichment      EntryType = "enrichment"
	EntryDecision        EntryType = "decision"
	EntryActionPlanned   EntryType = "action_planned"
	EntryActionStarted   EntryType = "action_started"
	EntryActionSucceeded EntryType = "action_succeeded"
	EntryActionFailed    EntryType = "action_failed"
	EntryVerification    EntryType = "verification"
	EntryCleanup         EntryType = "cleanup"
	EntryRestore         EntryType = "restore"
	EntryNote            EntryType = "note"
	EntryState           EntryType = "state"
	EntryApproval        EntryType = "approval"
	EntryEvidence        EntryType = "evidence"
	EntryInvestigation   EntryType = "investigation"
)

// Entry is one timeline item.
type Entry struct {
	ID         int64           `json:"id"`
	IncidentID int64           `json:"incident_id"`
	Time       time.Time       `json:"time"`
	Type       EntryType       `json:"type"`
	Actor      string          `json:"actor"` // "quell", a token's name, a rule
	Summary    string          `json:"summary"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// Errors stores return (wrapped).
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict") // e.g. a transition the state machine forbids
)

// IngestResult says what happened to one alert of a batch.
type IngestResult struct {
	IncidentID   int64
	NewIncident  bool
	Deduplicated bool // identical to an alert already in the incident; counted only
}

// Filter selects incidents for List. Zero fields match everything.
type Filter struct {
	States    []State
	Severity  *Severity // minimum severity
	Namespace string
	Rule      string
	Since     time.Time // last_seen >= Since
	// UpdatedSince keeps incidents changed (alerts, timeline entries,
	// transitions) at or after it.
	UpdatedSince time.Time
	Cluster      string
	AfterID      int64 // pagination: incidents with ID < AfterID (newest first); 0 = from the newest
	Limit        int   // default 50, max 500
}

// Store keeps incidents durably.
type Store interface {
	// Ingest records a batch of alerts in one transaction. Each alert joins
	// the newest non-final incident with its target key whose LastSeen is
	// within window of the alert's time, or opens a new incident; an alert
	// identical (DedupKey) to one already recorded in that incident only
	// increments DedupCount. Recorded alerts become timeline entries.
	Ingest(ctx context.Context, alerts []Alert, window time.Duration) ([]IngestResult, error)
	Get(ctx context.Context, id int64) (*Incident, error)
	List(ctx context.Context, f Filter) ([]Incident, error)
	Timeline(ctx context.Context, id int64) ([]Entry, error)
	// Append adds an entry to an incident's timeline.
	Append(ctx context.Context, id int64, e Entry) (Entry, error)
	// AppendAll adds entries in order in one transaction: all or none.
	AppendAll(ctx context.Context, id int64, es []Entry) ([]Entry, error)
	// Transition moves an incident to state to, recording e (type state if
	// empty) in the same transaction; ErrConflict if the state machine
	// forbids it.
	Transition(ctx context.Context, id int64, to State, e Entry) (*Incident, error)
	// Once records key and reports whether it was new: the idempotency
	// primitive for audit redelivery and response actions.
	Once(ctx context.Context, key string) (bool, error)
	// CountByState counts the incidents in each state (states with none
	// are absent).
	CountByState(ctx context.Context) (map[State]int, error)
	// DeleteBefore removes final incidents last seen before t (retention).
	DeleteBefore(ctx context.Context, t time.Time) (int, error)
	Close() error
}
