// Package investigate assembles the report an analyst would otherwise
// build by hand with kubectl for one pod: who created it (from the audit
// trail, "unknown" when it has nothing), its owner chain and how far the
// workload reaches, its configuration risk (privileges, host access,
// Pod Security Standards levels it violates), the effective permissions
// of its service account and who else may create or exec into pods in its
// namespace, what exposes it (Services, Ingresses, NetworkPolicies,
// EndpointSlices), what it depends on, and a risk score with its reasons;
// callers add the response a playbook would choose.
//
// An Investigator reads only: a watched cache (kubecache) for every kind
// it needs, and the API server for a pod the cache does not hold yet. It
// never guesses: what it cannot know is said to be unknown. It is safe
// for concurrent use.
package investigate

import (
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	"quell.dev/quell/internal/owner"
)

// Report is the investigation of one pod.
type Report struct {
	Namespace    string       `json:"namespace"`
	Pod          string       `json:"pod"`
	UID          string       `json:"uid"`
	Node         string       `json:"node,omitempty"`
	GeneratedAt  time.Time    `json:"generated_at"`
	Origin       Origin       `json:"origin"`
	Workload     Workload     `json:"workload"`
	Config       Config       `json:"configuration"`
	Access       Access       `json:"access"`
	Exposure     Exposure     `json:"exposure"`
	Dependencies Dependencies `json:"dependencies"`
	Impact       Impact       `json:"impact"`
}

// Origin says who created the pod and, for a controller's pod, who
// created and last changed the top controller.
type Origin struct {
	Pod      ObjectOrigin  `json:"pod"`
	Workload *ObjectOrigin `json:"workload,omitempty"`
}

// ObjectOrigin is what the audit trail says about one object. Unknown
// explains why nothing is known; it is empty when Created or LastChanged
// is set.
type ObjectOrigin struct {
	Object      string `json:"object"`
	Created     *Actor `json:"created,omitempty"`
	LastChanged *Actor `json:"last_changed,omitempty"`
	Unknown     string `json:"unknown,omitempty"`
}

// Actor is the identity behind one audited request.
type Actor struct {
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
	// ServiceAccount is namespace/name when User is a service account.
	ServiceAccount string `json:"service_account,omitempty"`
	// ImpersonatedBy is the authenticated user when the request was made
	// impersonating User.
	ImpersonatedBy string    `json:"impersonated_by,omitempty"`
	SourceIPs      []string  `json:"source_ips,omitempty"`
	UserAgent      string    `json:"user_agent,omitempty"`
	Verb           string    `json:"verb"`
	Time           time.Time `json:"time"`
	AuditID        string    `json:"audit_id,omitempty"`
}

// Workload is the owner chain and the workload's reach.
type Workload struct {
	Chain []owner.Ref `json:"chain"`
	// UnknownOwner is set when the top controller is of a kind quell
	// does not follow.
	UnknownOwner bool   `json:"unknown_owner,omitempty"`
	Kind         string `json:"kind"`
	Name         string `json:"name"`
	// Replicas is the top controller's desired replicas, when it has any.
	Replicas *int32     `json:"replicas,omitempty"`
	Pods     []PodPlace `json:"pods"`
	Nodes    []string   `json:"nodes,omitempty"`
	// OtherPodsAlerted are other pods of the workload named by alerts of
	// the same incident (filled in by the server, which knows them).
	OtherPodsAlerted []string `json:"other_pods_alerted,omitempty"`
}

// PodPlace is one pod of the workload and where it runs.
type PodPlace struct {
	Name  string `json:"name"`
	Node  string `json:"node,omitempty"`
	Phase string `json:"phase,omitempty"`
}

// Config is the pod's configuration risk.
type Config struct {
	Images      []Image         `json:"images"`
	Containers  []ContainerRisk `json:"containers"`
	HostPID     bool            `json:"host_pid,omitempty"`
	HostNetwork bool            `json:"host_network,omitempty"`
	HostIPC     bool            `json:"host_ipc,omitempty"`
	HostPaths   []HostPath      `json:"host_paths,omitempty"`
	// AutomountToken reports whether a service-account token is mounted
	// (the pod's setting, else its service account's, else true).
	AutomountToken bool        `json:"automount_token"`
	PodSecurity    PodSecurity `json:"pod_security"`
}

// Image is one container's image reference, split.
type Image struct {
	Container  string `json:"container"`
	Reference  string `json:"reference"`
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// ContainerRisk is what one container's security context allows.
type ContainerRisk struct {
	Name                     string   `json:"name"`
	Init                     bool     `json:"init,omitempty"`
	Privileged               bool     `json:"privileged,omitempty"`
	AddedCapabilities        []string `json:"added_capabilities,omitempty"`
	AllowPrivilegeEscalation bool     `json:"allow_privilege_escalation"`
	// RunAsRoot is true unless runAsNonRoot or a non-zero runAsUser
	// (container's, else the pod's) rules root out.
	RunAsRoot              bool `json:"run_as_root"`
	ReadOnlyRootFilesystem bool `json:"read_only_root_filesystem,omitempty"`
}

// HostPath is one hostPath volume.
type HostPath struct {
	Volume    string `json:"volume"`
	Path      string `json:"path"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// PodSecurity is the pod against the Pod Security Standards (latest
// version): the highest level it meets, and why it fails the others.
type PodSecurity struct {
	Level      string   `json:"level"`
	Baseline   []string `json:"baseline_violations,omitempty"`
	Restricted []string `json:"restricted_violations,omitempty"`
}

// Access is what the pod's service account may do, and who else may
// create or exec into pods in its namespace.
type Access struct {
	ServiceAccount string   `json:"service_account"`
	Grants         []Grant  `json:"grants"`
	Dangerous      []string `json:"dangerous,omitempty"`
	// CanCreatePods and CanExecPods list every subject that a binding
	// allows to create pods, or exec into any pod, in the namespace.
	CanCreatePods []SubjectGrant `json:"can_create_pods"`
	CanExecPods   []SubjectGrant `json:"can_exec_pods"`
}

// Grant is one binding that applies to the service account.
type Grant struct {
	Binding string              `json:"binding"`
	Role    string              `json:"role"`
	Via     string              `json:"via"` // the subject that matched
	Rules   []rbacv1.PolicyRule `json:"rules"`
}

// SubjectGrant is a subject and the binding that grants it something.
type SubjectGrant struct {
	Subject string `json:"subject"`
	Binding string `json:"binding"`
	Role    string `json:"role"`
}

// Exposure is what reaches the pod.
type Exposure struct {
	Services        []Service `json:"services,omitempty"`
	Ingresses       []Ingress `json:"ingresses,omitempty"`
	NetworkPolicies []string  `json:"network_policies,omitempty"`
	// IngressIsolated and EgressIsolated report whether any policy
	// selects the pod for that direction (otherwise all traffic is
	// allowed).
	IngressIsolated bool     `json:"ingress_isolated"`
	EgressIsolated  bool     `json:"egress_isolated"`
	EndpointSlices  []string `json:"endpoint_slices,omitempty"`
}

// Service is a Service selecting the pod.
type Service struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Ports    []string `json:"ports,omitempty"`
	External bool     `json:"external,omitempty"`
}

// Ingress is an Ingress routing to a Service of the pod.
type Ingress struct {
	Name     string   `json:"name"`
	Hosts    []string `json:"hosts,omitempty"`
	Services []string `json:"services"`
}

// Dependencies are the objects the pod references.
type Dependencies struct {
	Volumes    []Volume    `json:"volumes,omitempty"`
	PVCs       []PVC       `json:"persistent_volume_claims,omitempty"`
	ConfigMaps []Reference `json:"config_maps,omitempty"`
	Secrets    []Reference `json:"secrets,omitempty"`
}

// Volume is one volume of the pod.
type Volume struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Source string `json:"source,omitempty"`
}

// PVC is a claim the pod mounts.
type PVC struct {
	Name   string `json:"name"`
	Phase  string `json:"phase"` // "missing" when the claim does not exist
	Volume string `json:"volume,omitempty"`
}

// Reference is a ConfigMap or Secret and how the pod uses it.
type Reference struct {
	Name string   `json:"name"`
	Uses []string `json:"uses"`
}

// Impact is how much the pod matters and what to do.
type Impact struct {
	NamespaceLabels map[string]string `json:"namespace_labels,omitempty"`
	// Criticality names the labels or settings that mark the pod or its
	// namespace as important, if any.
	Criticality []string      `json:"criticality,omitempty"`
	Score       int           `json:"risk_score"`
	Reasons     []ScoreReason `json:"risk_reasons"`
	Suggested   *Suggestion   `json:"suggested_response,omitempty"`
}

// ScoreReason is one contribution to the risk score.
type ScoreReason struct {
	Points int    `json:"points"`
	Why    string `json:"why"`
}

// Suggestion is what the default playbook would decide, and why.
type Suggestion struct {
	Actions []string `json:"actions"`
	Reason  string   `json:"reason"`
}
