package rules

import (
	"net/url"
	"strconv"
	"strings"
)

// auditSource resolves k8s_audit (ka.*, jevt.*, json.*) fields.
var auditSource = &sourceDef[AuditEvent]{name: SourceK8sAudit, resolve: resolveAuditField}

type auditStr = func(*AuditEvent) (string, bool)
type auditList = func(*AuditEvent) ([]string, bool)

// keyField extracts the value at keys as text.
func keyField(keys ...string) auditStr {
	return func(e *AuditEvent) (string, bool) {
		v, ok := e.lookup(keys...)
		if !ok {
			return "", false
		}
		return jsonText(v), true
	}
}

// keyList extracts the array at keys as a list of texts.
func keyList(keys ...string) auditList {
	return func(e *AuditEvent) ([]string, bool) {
		v, ok := e.lookup(keys...)
		if !ok {
			return nil, false
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, false
		}
		out := make([]string, len(arr))
		for i, x := range arr {
			out[i] = jsonText(x)
		}
		return out, true
	}
}

// podArray returns requestObject.spec.<containers>, optionally only the
// element at index (index < 0: all).
func podArray(e *AuditEvent, key string, index int) ([]any, bool) {
	v, ok := e.lookup("requestObject", "spec", key)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	if index >= 0 {
		if index >= len(arr) {
			return nil, false
		}
		return arr[index : index+1], true
	}
	return arr, true
}

func getPath(v any, keys ...string) (any, bool) {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// perElement maps each element of requestObject.spec.<key> through keys.
// With skipMissing, elements lacking the value are skipped; otherwise a
// missing value makes the whole field missing, as in the k8saudit plugin.
func perElement(key string, index int, skipMissing bool, keys ...string) auditList {
	return func(e *AuditEvent) ([]string, bool) {
		arr, ok := podArray(e, key, index)
		if !ok {
			return nil, false
		}
		out := make([]string, 0, len(arr))
		for _, el := range arr {
			v, ok := getPath(el, keys...)
			if !ok {
				if skipMissing {
					continue
				}
				return nil, false
			}
			out = append(out, jsonText(v))
		}
		return out, true
	}
}

// repository strips the tag and digest from an image reference the naive
// way the k8saudit plugin does (split at the first ':' then '@').
func repository(image string) string {
	image, _, _ = strings.Cut(image, ":")
	image, _, _ = strings.Cut(image, "@")
	return image
}

// effective returns containers' securityContext.<key>, defaulting to the
// pod's value, then "0".
func effective(key string, index int, ckey string) auditList {
	return func(e *AuditEvent) ([]string, bool) {
		def := "0"
		if v, ok := e.lookup("requestObject", "spec", "securityContext", key); ok {
			def = jsonText(v)
		}
		arr, ok := podArray(e, ckey, index)
		if !ok {
			return nil, false
		}
		out := make([]string, len(arr))
		for i, el := range arr {
			out[i] = def
			if v, ok := getPath(el, "securityContext", key); ok {
				out[i] = jsonText(v)
			}
		}
		return out, true
	}
}

// containerField resolves ka.req.pod.<containers|initContainers|
// ephemeralContainers>.<sub>.
func containerField(ckey, sub string, index int) (auditList, bool) {
	switch sub {
	case "name":
		return perElement(ckey, index, false, "name"), true
	case "image":
		return perElement(ckey, index, false, "image"), true
	case "image.repository":
		imgs := perElement(ckey, index, false, "image")
		return func(e *AuditEvent) ([]string, bool) {
			l, ok := imgs(e)
			for i := range l {
				l[i] = repository(l[i])
			}
			return l, ok
		}, true
	case "command":
		return perElement(ckey, index, false, "command"), true
	case "args":
		return perElement(ckey, index, false, "args"), true
	case "privileged":
		return perElement(ckey, index, true, "securityContext", "privileged"), true
	case "allow_privilege_escalation":
		return perElement(ckey, index, false, "securityContext", "allowPrivilegeEscalation"), true
	case "read_only_fs":
		return perElement(ckey, index, false, "securityContext", "readOnlyRootFilesystem"), true
	case "run_as_user":
		return perElement(ckey, index, false, "securityContext", "runAsUser"), true
	case "run_as_group":
		return perElement(ckey, index, false, "securityContext", "runAsGroup"), true
	case "eff_run_as_user":
		return effective("runAsUser", index, ckey), true
	case "eff_run_as_group":
		return effective("runAsGroup", index, ckey), true
	case "proc_mount":
		return perElement(ckey, index, false, "securityContext", "procMount"), true
	case "add_capabilities":
		return perElement(ckey, index, false, "securityContext", "capabilities", "add"), true
	case "host_port":
		return hostPorts(ckey, index), true
	}
	return nil, false
}

func hostPorts(ckey string, index int) auditList {
	return func(e *AuditEvent) ([]string, bool) {
		arr, ok := podArray(e, ckey, index)
		if !ok {
			return nil, false
		}
		var out []string
		for _, el := range arr {
			ports, _ := getPath(el, "ports")
			pl, _ := ports.([]any)
			for _, p := range pl {
				if v, ok := getPath(p, "hostPort"); ok {
					out = append(out, jsonText(v))
				} else if v, ok := getPath(p, "containerPort"); ok {
					out = append(out, jsonText(v))
				}
			}
		}
		return out, true
	}
}

func rulesField(key string, index int) auditList {
	return func(e *AuditEvent) ([]string, bool) {
		v, ok := e.lookup("requestObject", "rules")
		if !ok {
			return nil, false
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, false
		}
		if index >= 0 {
			if index >= len(arr) {
				return nil, false
			}
			arr = arr[index : index+1]
		}
		var out []string
		for _, r := range arr {
			vals, _ := getPath(r, key)
			l, _ := vals.([]any)
			for _, x := range l {
				if x != nil {
					out = append(out, jsonText(x))
				}
			}
		}
		return out, true
	}
}

var auditScalar = map[string][]string{
	"ka.auditid":                    {"auditID"},
	"ka.stage":                      {"stage"},
	"ka.auth.decision":              {"annotations", "authorization.k8s.io/decision"},
	"ka.auth.reason":                {"annotations", "authorization.k8s.io/reason"},
	"ka.user.name":                  {"user", "username"},
	"ka.impuser.name":               {"impersonatedUser", "username"},
	"ka.verb":                       {"verb"},
	"ka.uri":                        {"requestURI"},
	"ka.target.name":                {"objectRef", "name"},
	"ka.target.namespace":           {"objectRef", "namespace"},
	"ka.target.resource":            {"objectRef", "resource"},
	"ka.target.subresource":         {"objectRef", "subresource"},
	"ka.req.binding.role":           {"requestObject", "roleRef", "name"},
	"ka.req.configmap.name":         {"objectRef", "name"},
	"ka.req.configmap.obj":          {"requestObject", "data"},
	"ka.req.pod.host_ipc":           {"requestObject", "spec", "hostIPC"},
	"ka.req.pod.host_network":       {"requestObject", "spec", "hostNetwork"},
	"ka.req.container.host_network": {"requestObject", "spec", "hostNetwork"},
	"ka.req.pod.host_pid":           {"requestObject", "spec", "hostPID"},
	"ka.req.pod.run_as_user":        {"requestObject", "spec", "securityContext", "runAsUser"},
	"ka.req.pod.run_as_group":       {"requestObject", "spec", "securityContext", "runAsGroup"},
	"ka.req.pod.fs_group":           {"requestObject", "spec", "securityContext", "fsGroup"},
	"ka.req.service.type":           {"requestObject", "spec", "type"},
	"ka.resp.name":                  {"responseObject", "metadata", "name"},
	"ka.response.code":              {"responseStatus", "code"},
	"ka.response.reason":            {"responseStatus", "reason"},
	"ka.useragent":                  {"userAgent"},
	"ka.cluster.name":               {"annotations", "cluster_name"},
}

var auditLists = map[string][]string{
	"ka.user.groups":                 {"user", "groups"},
	"ka.sourceips":                   {"sourceIPs"},
	"ka.req.binding.subjects":        {"requestObject", "subjects"},
	"ka.req.role.rules":              {"requestObject", "rules"},
	"ka.req.pod.supplemental_groups": {"requestObject", "spec", "securityContext", "supplementalGroups"},
	"ka.req.service.ports":           {"requestObject", "spec", "ports"},
}

func resolveAuditField(name, arg string, hasArg bool) (accessor[AuditEvent], error) {
	full := name
	if hasArg {
		full += "[" + arg + "]"
	}
	str := func(f auditStr) (accessor[AuditEvent], error) {
		return accessor[AuditEvent]{name: full, kind: kindString, str: f}, nil
	}
	list := func(f auditList) (accessor[AuditEvent], error) {
		return accessor[AuditEvent]{name: full, kind: kindList, list: f}, nil
	}
	index := -1
	if hasArg {
		if n, err := strconv.Atoi(arg); err == nil {
			index = n
		}
	}
	if keys, ok := auditScalar[name]; ok && !hasArg {
		return str(keyField(keys...))
	}
	if keys, ok := auditLists[name]; ok && !hasArg {
		return list(keyList(keys...))
	}
	switch name {
	case "ka.uri.param":
		if !hasArg {
			break
		}
		return str(func(e *AuditEvent) (string, bool) {
			v, ok := e.lookup("requestURI")
			s, isStr := v.(string)
			if !ok || !isStr {
				return "", false
			}
			u, err := url.Parse(s)
			if err != nil {
				return "", false
			}
			q, err := url.ParseQuery(u.RawQuery)
			if err != nil || len(q[arg]) == 0 {
				return "", false
			}
			return q[arg][0], true
		})
	case "ka.req.container.image", "ka.req.container.image.repository":
		imgs := perElement("containers", 0, false, "image")
		repo := name == "ka.req.container.image.repository"
		return str(func(e *AuditEvent) (string, bool) {
			l, ok := imgs(e)
			if !ok || len(l) == 0 {
				return "", false
			}
			if repo {
				return repository(l[0]), true
			}
			return l[0], true
		})
	case "ka.req.container.privileged":
		priv := perElement("containers", -1, true, "securityContext", "privileged")
		return str(func(e *AuditEvent) (string, bool) {
			l, ok := priv(e)
			if !ok {
				return "", false
			}
			for _, s := range l {
				if s == "true" {
					return "true", true
				}
			}
			return "false", true
		})
	case "ka.req.role.rules.apiGroups", "ka.req.role.rules.nonResourceURLs", "ka.req.role.rules.verbs", "ka.req.role.rules.resources":
		return list(rulesField(strings.TrimPrefix(name, "ka.req.role.rules."), index))
	case "ka.req.volume.hostpath":
		if !hasArg {
			break
		}
		paths := perElement("volumes", -1, true, "hostPath", "path")
		return str(func(e *AuditEvent) (string, bool) {
			l, ok := paths(e)
			if !ok {
				return "", false
			}
			prefix, isPrefix := strings.CutSuffix(arg, "*")
			for _, p := range l {
				if isPrefix && strings.HasPrefix(p, prefix) || p == arg {
					return "true", true
				}
			}
			return "false", true
		})
	case "ka.req.pod.volumes.hostpath":
		return list(perElement("volumes", index, true, "hostPath", "path"))
	case "ka.req.pod.volumes.flexvolume_driver":
		return list(perElement("volumes", index, true, "flexVolume", "driver"))
	case "ka.req.pod.volumes.volume_type":
		return list(volumeTypes(index))
	case "jevt.value", "json.value":
		if !hasArg {
			break
		}
		return str(func(e *AuditEvent) (string, bool) {
			v, ok := e.pointer(arg)
			if !ok {
				return "", false
			}
			return jsonText(v), true
		})
	case "jevt.obj", "json.obj":
		if hasArg {
			break
		}
		return str(func(e *AuditEvent) (string, bool) { return string(e.raw), len(e.raw) > 0 })
	case "jevt.time", "json.time", "evt.time":
		if hasArg {
			break
		}
		return str(func(e *AuditEvent) (string, bool) {
			return e.time.Format("2006-01-02T15:04:05.000000000Z"), !e.time.IsZero()
		})
	case "jevt.rawtime", "json.rawtime", "evt.rawtime":
		if hasArg {
			break
		}
		return accessor[AuditEvent]{name: full, kind: kindInt, num: func(e *AuditEvent) (int64, bool) {
			return e.time.UnixNano(), !e.time.IsZero()
		}}, nil
	case "evt.source":
		return str(func(*AuditEvent) (string, bool) { return SourceK8sAudit, true })
	}
	for _, ckey := range []string{"containers", "initContainers", "ephemeralContainers"} {
		if sub, ok := strings.CutPrefix(name, "ka.req.pod."+ckey+"."); ok {
			if f, ok := containerField(ckey, sub, index); ok {
				return list(f)
			}
		}
	}
	return accessor[AuditEvent]{}, &fieldError{field: full, source: SourceK8sAudit}
}

func volumeTypes(index int) auditList {
	return func(e *AuditEvent) ([]string, bool) {
		arr, ok := podArray(e, "volumes", index)
		if !ok {
			return nil, false
		}
		var out []string
		for _, v := range arr {
			m, _ := v.(map[string]any)
			for k := range m {
				if k != "name" {
					out = append(out, k)
				}
			}
		}
		return out, true
	}
}
