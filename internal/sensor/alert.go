package sensor

import (
	"encoding/json"
	"net/netip"
	"time"

	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor/container"
)

// Alert is one rule match on the node.
type Alert struct {
	Rule     string
	Priority rules.Priority
	Source   string
	Time     time.Time
	// Output is the rule's rendered output.
	Output   string
	Tags     []string
	Hostname string
	// Fields holds the event's fields by their rules-language names.
	Fields map[string]any
	Target Target
	// ExecTime is when the kernel saw the event (for latency metrics).
	ExecTime time.Time
}

// Target names where the alert happened, as the server's sensor
// endpoint expects.
type Target struct {
	Namespace string `json:"namespace,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	Node      string `json:"node,omitempty"`
}

// Fields copied into alerts when present.
var (
	alertStrFields = []rules.Field{
		rules.EvtType, rules.ProcName, rules.ProcExe, rules.ProcExePath, rules.ProcCmdline, rules.ProcCwd,
		rules.ProcSname, rules.UserName, rules.UserLoginName, rules.ContainerID, rules.ContainerName,
		rules.ContainerImage, rules.ContainerImageRepository, rules.ContainerImageTag, rules.ContainerType,
		rules.K8sNsName, rules.K8sPodName, rules.K8sPodUID, rules.FdName, rules.FdL4Proto, rules.FdType,
	}
	alertIntFields = []rules.Field{
		rules.ProcPid, rules.ProcVpid, rules.ProcTTY, rules.ProcSid, rules.UserUID, rules.UserLoginUID,
		rules.GroupGID, rules.FdSPort, rules.FdCPort,
	}
	alertIPFields = []rules.Field{rules.FdSIP, rules.FdCIP}
)

// newAlert builds the alert for rule r matching ev (built from e).
func newAlert(r *rules.Rule, ev *rules.SyscallEvent, e *Event, hostname, node string) *Alert {
	fields := make(map[string]any, 32)
	for _, f := range alertStrFields {
		if v, ok := ev.String(f); ok {
			fields[f.Name()] = v
		}
	}
	for _, f := range alertIntFields {
		if v, ok := ev.Int(f); ok {
			fields[f.Name()] = v
		}
	}
	for _, f := range alertIPFields {
		if v, ok := ev.IP(f); ok && v != (netip.Addr{}) {
			fields[f.Name()] = v.String()
		}
	}
	if len(e.Ancestors) > 0 {
		fields["proc.pname"] = e.Ancestors[0].Name
		fields["proc.ppid"] = e.Ancestors[0].Pid
		fields["proc.pcmdline"] = e.Ancestors[0].Cmdline
	} else if e.Proc.Ppid != 0 {
		fields["proc.ppid"] = int64(e.Proc.Ppid)
	}
	if e.ContainerID != container.Host {
		fields["container.full_id"] = e.ContainerID
	}
	if e.Pod != nil && len(e.Pod.Labels) > 0 {
		for k, v := range e.Pod.Labels {
			fields["k8s.pod.label["+k+"]"] = v
		}
	}
	a := &Alert{
		Rule: r.Name, Priority: r.Priority, Source: rules.SourceSyscall, Time: e.Time,
		Output: r.FormatSyscall(ev), Tags: r.Tags, Hostname: hostname, Fields: fields,
		Target: Target{Node: node}, ExecTime: e.Time,
	}
	if e.ContainerID != container.Host {
		a.Target.Container = e.ContainerID
	}
	if e.Pod != nil {
		a.Target.Namespace, a.Target.Pod = e.Pod.Namespace, e.Pod.Name
	}
	return a
}

// serverAlert is the JSON of one alert for POST /v1/sensor/alerts.
type serverAlert struct {
	Rule     string         `json:"rule"`
	Priority string         `json:"priority"`
	Source   string         `json:"source"`
	Time     time.Time      `json:"time"`
	Output   string         `json:"output"`
	Tags     []string       `json:"tags"`
	Hostname string         `json:"hostname"`
	Fields   map[string]any `json:"fields"`
	Target   *Target        `json:"target"`
}

func (a *Alert) server() serverAlert {
	t := a.Target
	return serverAlert{
		Rule: a.Rule, Priority: a.Priority.String(), Source: a.Source, Time: a.Time, Output: a.Output,
		Tags: a.Tags, Hostname: a.Hostname, Fields: a.Fields, Target: &t,
	}
}

// falcoAlert is Falco's JSON output format, so that consumers of Falco
// (Falcosidekick, Falco Talon) can read quell's alerts.
type falcoAlert struct {
	Time         time.Time      `json:"time"`
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Source       string         `json:"source"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Tags         []string       `json:"tags"`
	Hostname     string         `json:"hostname"`
}

// MarshalFalco returns the alert as one line of Falco JSON output (with
// Falco's "time: Priority output" prefix in output).
func (a *Alert) MarshalFalco() ([]byte, error) {
	fields := make(map[string]any, len(a.Fields)+1)
	for k, v := range a.Fields {
		fields[k] = v
	}
	fields["evt.time"] = a.Time.UnixNano()
	tags := a.Tags
	if tags == nil {
		tags = []string{}
	}
	return json.Marshal(falcoAlert{
		Time: a.Time.UTC(), Rule: a.Rule, Priority: a.Priority.String(), Source: a.Source,
		Output:       a.Time.Local().Format("15:04:05.000000000") + ": " + a.Priority.String() + " " + a.Output,
		OutputFields: fields, Tags: tags, Hostname: a.Hostname,
	})
}
