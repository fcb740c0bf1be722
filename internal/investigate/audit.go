package investigate

import (
	"container/list"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// AuditIndex remembers, per object, the audited request that created it
// and the last one that changed it, from the audit events the server
// receives. It keeps at most Max objects (the oldest are forgotten first)
// and lives in memory: after a restart, objects created before are
// unknown until they change again. It is safe for concurrent use.
type AuditIndex struct {
	max int

	mu      sync.Mutex
	objects map[string]*list.Element // of *auditEntry
	order   *list.List               // least recently recorded first
}

type auditEntry struct {
	key              string
	uid              string
	created, changed *Actor
}

// NewAuditIndex returns an index of at most max objects (100,000 when
// max <= 0).
func NewAuditIndex(max int) *AuditIndex {
	if max <= 0 {
		max = 100_000
	}
	return &AuditIndex{max: max, objects: map[string]*list.Element{}, order: list.New()}
}

// auditEvent is the part of an audit.k8s.io/v1 Event the index reads.
type auditEvent struct {
	AuditID string `json:"auditID"`
	Stage   string `json:"stage"`
	Verb    string `json:"verb"`
	User    struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ImpersonatedUser *struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"impersonatedUser"`
	SourceIPs []string `json:"sourceIPs"`
	UserAgent string   `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	ResponseObject *struct {
		Metadata struct {
			Name string `json:"name"`
			UID  string `json:"uid"`
		} `json:"metadata"`
	} `json:"responseObject"`
	StageTimestamp time.Time `json:"stageTimestamp"`
}

// Observe records one audit event (its JSON). Only completed, successful
// create, update and patch requests on an object itself (not a
// subresource) are kept; anything else, malformed events included, is
// ignored.
func (x *AuditIndex) Observe(raw []byte) {
	var ev auditEvent
	if json.Unmarshal(raw, &ev) != nil || ev.Stage != "ResponseComplete" || ev.ObjectRef == nil || ev.ObjectRef.Subresource != "" {
		return
	}
	if ev.ResponseStatus == nil || ev.ResponseStatus.Code < 200 || ev.ResponseStatus.Code > 299 {
		return
	}
	switch ev.Verb {
	case "create", "update", "patch":
	default:
		return
	}
	ref := ev.ObjectRef
	name, uid := ref.Name, ""
	if ev.ResponseObject != nil {
		if name == "" {
			name = ev.ResponseObject.Metadata.Name // generateName: known from the response only
		}
		uid = ev.ResponseObject.Metadata.UID
	}
	if name == "" {
		return
	}
	a := &Actor{User: ev.User.Username, Groups: ev.User.Groups, SourceIPs: ev.SourceIPs, UserAgent: ev.UserAgent,
		Verb: ev.Verb, Time: ev.StageTimestamp, AuditID: ev.AuditID}
	if ev.ImpersonatedUser != nil && ev.ImpersonatedUser.Username != "" {
		a.ImpersonatedBy = a.User
		a.User, a.Groups = ev.ImpersonatedUser.Username, ev.ImpersonatedUser.Groups
	}
	if rest, ok := strings.CutPrefix(a.User, "system:serviceaccount:"); ok {
		a.ServiceAccount = strings.Replace(rest, ":", "/", 1)
	}
	key := auditKey(ref.APIGroup, ref.Resource, ref.Namespace, name)
	x.mu.Lock()
	defer x.mu.Unlock()
	var e *auditEntry
	if el, ok := x.objects[key]; ok {
		x.order.MoveToBack(el)
		e = el.Value.(*auditEntry)
		if ev.Verb == "create" && uid != "" && e.uid != "" && uid != e.uid {
			*e = auditEntry{key: key} // a namesake replacing it
		}
	} else {
		e = &auditEntry{key: key}
		x.objects[key] = x.order.PushBack(e)
	}
	if uid != "" {
		e.uid = uid
	}
	if ev.Verb == "create" {
		e.created = a
	} else if e.changed == nil || !a.Time.Before(e.changed.Time) {
		e.changed = a
	}
	for len(x.objects) > x.max {
		oldest := x.order.Front()
		delete(x.objects, x.order.Remove(oldest).(*auditEntry).key)
	}
}

// Origin returns what the index knows about the object of group/resource
// named ns/name with uid (uid may be empty: any). ok is false when it
// knows nothing.
func (x *AuditIndex) Origin(group, resource, ns, name, uid string) (created, changed *Actor, ok bool) {
	if x == nil {
		return nil, nil, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	el, found := x.objects[auditKey(group, resource, ns, name)]
	if !found {
		return nil, nil, false
	}
	e := el.Value.(*auditEntry)
	if uid != "" && e.uid != "" && e.uid != uid {
		return nil, nil, false
	}
	return e.created, e.changed, true
}

func auditKey(group, resource, ns, name string) string {
	return group + "/" + resource + "/" + ns + "/" + name
}
