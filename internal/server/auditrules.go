package server

import (
	"encoding/json"
	"fmt"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/rules"
)

// RulesAudit evaluates audit events with a compiled rules engine.
type RulesAudit struct {
	Engine *rules.Engine
}

var _ AuditEvaluator = RulesAudit{}

// EvaluateAudit implements AuditEvaluator.
func (a RulesAudit) EvaluateAudit(ev *rules.AuditEvent, cluster string) ([]incident.Alert, error) {
	matched := a.Engine.MatchAudit(nil, ev)
	if len(matched) == 0 {
		return nil, nil
	}
	fields, err := auditFields(ev.Raw())
	if err != nil {
		return nil, err
	}
	target := targetFromFields(cluster, "k8s_audit", "", fields)
	out := make([]incident.Alert, 0, len(matched))
	for _, r := range matched {
		out = append(out, incident.Alert{
			Source:   "audit",
			Rule:     r.Name,
			Priority: r.Priority.String(),
			Time:     ev.Time(),
			Output:   r.FormatAudit(ev),
			Tags:     r.Tags,
			Fields:   fields,
			Target:   target,
		})
	}
	return out, nil
}

// auditEventFields is the part of an audit event recorded with its alerts.
type auditEventFields struct {
	AuditID string `json:"auditID"`
	Verb    string `json:"verb"`
	User    struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string `json:"username"`
	} `json:"impersonatedUser"`
	SourceIPs []string `json:"sourceIPs"`
	UserAgent string   `json:"userAgent"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	ResponseObject struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	} `json:"responseObject"`
}

// auditFields extracts the ka.* fields that name who did what to which
// object, for the incident record and its target.
func auditFields(raw []byte) (map[string]any, error) {
	var e auditEventFields
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("decode audit event fields: %w", err)
	}
	f := map[string]any{
		"ka.auditid":            e.AuditID,
		"ka.verb":               e.Verb,
		"ka.user.name":          e.User.Username,
		"ka.user.groups":        e.User.Groups,
		"ka.sourceips":          e.SourceIPs,
		"ka.useragent":          e.UserAgent,
		"ka.target.resource":    e.ObjectRef.Resource,
		"ka.target.namespace":   e.ObjectRef.Namespace,
		"ka.target.name":        e.ObjectRef.Name,
		"ka.response.code":      e.ResponseStatus.Code,
		"ka.resp.name":          e.ResponseObject.Metadata.Name,
		"ka.target.subresource": e.ObjectRef.Subresource,
	}
	if e.ImpersonatedUser != nil {
		f["ka.impuser.name"] = e.ImpersonatedUser.Username
	}
	return f, nil
}
