package investigate

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// criticalLabels are label keys that mark how much an environment
// matters, and the values that mean it does.
var criticalLabels = map[string][]string{
	"environment": {"prod", "production", "live"},
	"env":         {"prod", "production", "live"},
	"tier":        {"critical", "production"},
	"criticality": {"high", "critical"},
}

// impactOf scores the pod's risk from the report's other sections, with
// every contribution named, and says what marks it as critical.
func (iv *Investigator) impactOf(pod *corev1.Pod, r *Report) Impact {
	im := Impact{Reasons: []ScoreReason{}}
	add := func(points int, why string) { im.Reasons = append(im.Reasons, ScoreReason{Points: points, Why: why}) }
	if o, ok := iv.objs.Get("Namespace", "", pod.Namespace); ok {
		im.NamespaceLabels = o.GetLabels()
	}
	critical := false
	for _, src := range []struct {
		what   string
		labels map[string]string
	}{{"namespace label", im.NamespaceLabels}, {"pod label", pod.Labels}} {
		for k, vals := range criticalLabels {
			if v, ok := src.labels[k]; ok && slices.Contains(vals, strings.ToLower(v)) {
				im.Criticality = append(im.Criticality, src.what+" "+k+"="+v)
				critical = true
			}
		}
	}
	if pc := pod.Spec.PriorityClassName; pc != "" {
		im.Criticality = append(im.Criticality, "priority class "+pc)
		if pc == "system-cluster-critical" || pc == "system-node-critical" {
			critical = true
		}
	}
	slices.Sort(im.Criticality)

	c := r.Config
	for _, ct := range c.Containers {
		if ct.Privileged {
			add(30, "container "+ct.Name+" is privileged")
		}
		if len(ct.AddedCapabilities) > 0 {
			add(10, "container "+ct.Name+" adds capabilities "+strings.Join(ct.AddedCapabilities, ", "))
		}
		if ct.RunAsRoot {
			add(5, "container "+ct.Name+" may run as root")
		}
	}
	for _, h := range c.HostPaths {
		if h.Sensitive {
			add(25, "hostPath "+h.Path+" (volume "+h.Volume+") exposes the node")
		} else {
			add(10, "hostPath "+h.Path+" (volume "+h.Volume+")")
		}
	}
	for _, ns := range []struct {
		on   bool
		name string
	}{{c.HostPID, "hostPID"}, {c.HostNetwork, "hostNetwork"}, {c.HostIPC, "hostIPC"}} {
		if ns.on {
			add(15, "shares the node's namespace: "+ns.name)
		}
	}
	if len(r.Access.Dangerous) > 0 {
		add(25, "its service account "+r.Access.ServiceAccount+" "+strings.Join(dangerNames(r.Access.Dangerous), ", "))
	}
	if c.AutomountToken && len(r.Access.Grants) > 0 {
		add(5, "a service-account token with granted permissions is mounted")
	}
	external := len(r.Exposure.Ingresses) > 0 || slices.ContainsFunc(r.Exposure.Services, func(s Service) bool { return s.External })
	switch {
	case external:
		add(15, "reachable from outside the cluster (Ingress, LoadBalancer, NodePort or external IP)")
	case len(r.Exposure.Services) > 0:
		add(5, "reachable in the cluster through a Service")
	}
	if !r.Exposure.IngressIsolated || !r.Exposure.EgressIsolated {
		add(5, "no NetworkPolicy isolates it in both directions")
	}
	if n := len(r.Workload.Pods); n > 1 {
		add(5, "its workload runs more pods of the same template")
	}
	if critical {
		add(10, "marked as critical: "+strings.Join(im.Criticality, ", "))
	}
	for _, s := range im.Reasons {
		im.Score += s.Points
	}
	im.Score = min(im.Score, 100)
	return im
}

// dangerNames strips the bindings from Access.Dangerous entries.
func dangerNames(ds []string) []string {
	var out []string
	for _, d := range ds {
		name, _, _ := strings.Cut(d, " (")
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
