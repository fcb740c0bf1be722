package incident

// Describe names a target for people: "Deployment prod/web", "pod
// prod/web-0", "node worker-1" or "cluster prod".
func (t Target) Describe() string {
	switch t.Kind {
	case TargetWorkload:
		kind := t.WorkloadKind
		if kind == "" {
			kind = "workload"
		}
		return kind + " " + t.Namespace + "/" + t.Name
	case TargetPod:
		return "pod " + t.Namespace + "/" + t.Name
	case TargetNode:
		return "node " + t.Name
	default:
		if t.Cluster == "" {
			return "cluster"
		}
		return "cluster " + t.Cluster
	}
}

// Title is the title of an incident opened by the alert.
func (a *Alert) Title() string {
	return a.Rule + " on " + a.Target.Describe()
}
