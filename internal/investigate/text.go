package investigate

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteText writes the report for a person to read.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("Pod %s/%s (uid %s) on node %s", r.Namespace, r.Pod, r.UID, or(r.Node, "none (not scheduled)"))
	p("")
	p("ORIGIN")
	origin := func(o ObjectOrigin) {
		if o.Created != nil {
			p("  %s\tcreated by %s", o.Object, actorText(o.Created))
		}
		if o.LastChanged != nil {
			p("  %s\tlast changed by %s", o.Object, actorText(o.LastChanged))
		}
		if o.Unknown != "" {
			p("  %s\t%s", o.Object, o.Unknown)
		}
	}
	origin(r.Origin.Pod)
	if r.Origin.Workload != nil {
		origin(*r.Origin.Workload)
	}
	p("")
	p("WORKLOAD")
	var chain []string
	for _, l := range r.Workload.Chain {
		chain = append(chain, l.Kind+" "+l.Name)
	}
	p("  chain\t%s", strings.Join(chain, " -> "))
	if r.Workload.Replicas != nil {
		p("  replicas\t%d desired", *r.Workload.Replicas)
	}
	var pods []string
	for _, pl := range r.Workload.Pods {
		pods = append(pods, pl.Name+"@"+or(pl.Node, "-"))
	}
	p("  pods\t%d: %s", len(r.Workload.Pods), strings.Join(pods, ", "))
	if len(r.Workload.OtherPodsAlerted) > 0 {
		p("  also alerted\t%s", strings.Join(r.Workload.OtherPodsAlerted, ", "))
	}
	p("")
	p("CONFIGURATION (pod security: %s)", r.Config.PodSecurity.Level)
	for _, im := range r.Config.Images {
		p("  image %s\t%s (registry %s, repository %s, tag %s, digest %s)", im.Container, im.Reference, im.Registry, im.Repository, or(im.Tag, "-"), or(im.Digest, "-"))
	}
	for _, c := range r.Config.Containers {
		p("  container %s\tprivileged=%v root=%v privilege-escalation=%v added-caps=%s", c.Name, c.Privileged, c.RunAsRoot, c.AllowPrivilegeEscalation, or(strings.Join(c.AddedCapabilities, ","), "none"))
	}
	p("  host namespaces\tpid=%v network=%v ipc=%v", r.Config.HostPID, r.Config.HostNetwork, r.Config.HostIPC)
	for _, h := range r.Config.HostPaths {
		s := ""
		if h.Sensitive {
			s = " (SENSITIVE)"
		}
		p("  hostPath %s\t%s%s", h.Volume, h.Path, s)
	}
	p("  token mounted\t%v", r.Config.AutomountToken)
	for _, v := range r.Config.PodSecurity.Baseline {
		p("  violates baseline\t%s", v)
	}
	for _, v := range r.Config.PodSecurity.Restricted {
		p("  violates restricted\t%s", v)
	}
	p("")
	p("ACCESS (service account %s)", r.Access.ServiceAccount)
	for _, g := range r.Access.Grants {
		p("  %s\t-> %s (via %s)", g.Binding, g.Role, g.Via)
	}
	for _, d := range r.Access.Dangerous {
		p("  DANGEROUS\t%s", d)
	}
	for _, s := range r.Access.CanCreatePods {
		p("  can create pods\t%s (%s -> %s)", s.Subject, s.Binding, s.Role)
	}
	for _, s := range r.Access.CanExecPods {
		p("  can exec into pods\t%s (%s -> %s)", s.Subject, s.Binding, s.Role)
	}
	p("")
	p("EXPOSURE")
	for _, s := range r.Exposure.Services {
		p("  service %s\t%s %s external=%v", s.Name, s.Type, strings.Join(s.Ports, ","), s.External)
	}
	for _, in := range r.Exposure.Ingresses {
		p("  ingress %s\thosts %s -> %s", in.Name, or(strings.Join(in.Hosts, ","), "*"), strings.Join(in.Services, ","))
	}
	p("  network policies\t%s (ingress isolated=%v, egress isolated=%v)", or(strings.Join(r.Exposure.NetworkPolicies, ","), "none"), r.Exposure.IngressIsolated, r.Exposure.EgressIsolated)
	if len(r.Exposure.EndpointSlices) > 0 {
		p("  endpoint slices\t%s", strings.Join(r.Exposure.EndpointSlices, ","))
	}
	p("")
	p("DEPENDENCIES")
	for _, v := range r.Dependencies.Volumes {
		p("  volume %s\t%s %s", v.Name, v.Type, v.Source)
	}
	for _, c := range r.Dependencies.PVCs {
		p("  claim %s\t%s", c.Name, c.Phase)
	}
	for _, c := range r.Dependencies.ConfigMaps {
		p("  config map %s\t%s", c.Name, strings.Join(c.Uses, "; "))
	}
	for _, s := range r.Dependencies.Secrets {
		p("  secret %s\t%s", s.Name, strings.Join(s.Uses, "; "))
	}
	p("")
	p("IMPACT: risk %d/100", r.Impact.Score)
	if len(r.Impact.Criticality) > 0 {
		p("  critical\t%s", strings.Join(r.Impact.Criticality, ", "))
	}
	for _, s := range r.Impact.Reasons {
		p("  +%d\t%s", s.Points, s.Why)
	}
	if s := r.Impact.Suggested; s != nil {
		p("  suggested response\t%s: %s", or(strings.Join(s.Actions, ", "), "none"), s.Reason)
	}
	return tw.Flush()
}

func actorText(a *Actor) string {
	s := a.User
	if a.ImpersonatedBy != "" {
		s += " (impersonated by " + a.ImpersonatedBy + ")"
	}
	if len(a.Groups) > 0 {
		s += " groups " + strings.Join(a.Groups, ",")
	}
	if len(a.SourceIPs) > 0 {
		s += " from " + strings.Join(a.SourceIPs, ",")
	}
	if a.UserAgent != "" {
		s += " with " + a.UserAgent
	}
	return s + " at " + a.Time.Format("2006-01-02T15:04:05Z07:00")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
