package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/rules"
)

// falcoAlert is one alert as Falco's json_output / http_output and
// Falcosidekick's webhook send it.
type falcoAlert struct {
	UUID         string         `json:"uuid"`
	Time         string         `json:"time"`
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	Source       string         `json:"source"`
	Output       string         `json:"output"`
	OutputFields map[string]any `json:"output_fields"`
	Tags         []string       `json:"tags"`
	Hostname     string         `json:"hostname"`
}

// falcoClusterFields are the output fields that may name a Falco alert's
// cluster, in the order they are read.
var falcoClusterFields = []string{"k8s.cluster.name", "cluster"}

// falcoCluster is the cluster a Falco alert's output fields name, else
// the default (a request's ?cluster= takes precedence over both).
func (s *Server) falcoCluster(f *falcoAlert) (*Cluster, error) {
	for _, k := range falcoClusterFields {
		if v := field(f.OutputFields, k); v != "" {
			return s.clusters.lookup(v, "output_fields."+k)
		}
	}
	return s.clusters.lookup("", "")
}

// validPriority reports whether p is a Falco priority name (any case).
func validPriority(p string) bool {
	_, err := rules.ParsePriority(p)
	return err == nil && p == strings.TrimSpace(p)
}

// toAlert validates a Falco alert and normalises it.
func (f *falcoAlert) toAlert(cluster string, now time.Time) (incident.Alert, error) {
	if f.Rule == "" {
		return incident.Alert{}, badRequest(`field "rule" is required`, "rule")
	}
	if !validPriority(f.Priority) {
		return incident.Alert{}, badRequest(fmt.Sprintf("field \"priority\": %q is not a Falco priority (Emergency ... Debug)", f.Priority), "priority")
	}
	t := now
	if f.Time != "" {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, f.Time); err != nil {
			return incident.Alert{}, badRequest(fmt.Sprintf("field \"time\": %q is not an RFC 3339 time", f.Time), "time")
		}
	}
	if ns, ok := f.OutputFields["evt.time"].(json.Number); ok && f.Time == "" {
		if n, err := ns.Int64(); err == nil {
			t = time.Unix(0, n).UTC()
		}
	}
	src := f.Source
	if src == "" {
		src = "syscall"
	}
	a := incident.Alert{
		Source:   "falco",
		Rule:     f.Rule,
		Priority: f.Priority,
		Time:     t,
		Output:   f.Output,
		Tags:     f.Tags,
		Hostname: f.Hostname,
		Fields:   f.OutputFields,
	}
	a.Target = targetFromFields(cluster, src, f.Hostname, f.OutputFields)
	return a, nil
}

// field returns a string field, treating Falco's <NA> as absent.
func field(fields map[string]any, name string) string {
	v, ok := fields[name]
	if !ok || v == nil {
		return ""
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	default:
		s = fmt.Sprint(x)
	}
	if s == "<NA>" {
		return ""
	}
	return s
}

// targetFromFields derives what an alert is about from its fields: a pod
// (k8s.* or ka.* fields), a node (a host process), or the cluster.
func targetFromFields(cluster, source, hostname string, fields map[string]any) incident.Target {
	t := incident.Target{Cluster: cluster, Kind: incident.TargetCluster}
	if ns, pod := field(fields, "k8s.ns.name"), field(fields, "k8s.pod.name"); ns != "" && pod != "" {
		t.Kind, t.Namespace, t.Name, t.Pod = incident.TargetPod, ns, pod, pod
		t.Container = field(fields, "container.id")
		t.Node = hostname
		return t
	}
	if source == "k8s_audit" || field(fields, "ka.verb") != "" {
		ns := field(fields, "ka.target.namespace")
		name := field(fields, "ka.target.name")
		if name == "" {
			name = field(fields, "ka.resp.name")
		}
		switch res := field(fields, "ka.target.resource"); {
		case res == "pods" && ns != "" && name != "":
			t.Kind, t.Namespace, t.Name, t.Pod = incident.TargetPod, ns, name, name
		case ns != "" && name != "" && workloadKinds[res] != "":
			t.Kind, t.Namespace, t.Name, t.WorkloadKind = incident.TargetWorkload, ns, name, workloadKinds[res]
		case res == "nodes" && name != "":
			t.Kind, t.Name = incident.TargetNode, name
		}
		return t
	}
	if cid := field(fields, "container.id"); (cid == "" || cid == "host") && hostname != "" {
		t.Kind, t.Name, t.Node = incident.TargetNode, hostname, hostname
		return t
	}
	return t
}

// workloadKinds maps an API resource to the kind of workload it is.
var workloadKinds = map[string]string{
	"deployments":            "Deployment",
	"statefulsets":           "StatefulSet",
	"daemonsets":             "DaemonSet",
	"replicasets":            "ReplicaSet",
	"jobs":                   "Job",
	"cronjobs":               "CronJob",
	"replicationcontrollers": "ReplicationController",
}
