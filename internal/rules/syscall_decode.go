package rules

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// SetField sets a syscall field from a replayed value, given the field's
// name in the rules language: scalar fields (proc.name, user.uid, fd.sip,
// ...), parent and ancestor fields (proc.pname, proc.aname[2], ...),
// syscall arguments (evt.arg.flags, evt.arg[0]), pod labels
// (k8s.pod.label[app]), environment (proc.env[HOME]) and mounts
// (container.mount.dest[/src]). v is a string, a number (json.Number,
// float64 or int), a bool, or nil for "missing".
func (e *SyscallEvent) SetField(name string, v any) error {
	if v == nil {
		return nil
	}
	base, arg, hasArg := splitFieldArg(name)
	text := valueText(v)
	switch {
	case hasArg && base == "proc.aname", hasArg && base == "proc.aexe", hasArg && base == "proc.aexepath",
		hasArg && base == "proc.acmdline", hasArg && base == "proc.apid":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 || n > 64 {
			return fmt.Errorf("field %s: ancestor index must be 0..64", name)
		}
		if n == 0 {
			return e.SetField(selfField[base].Name(), v)
		}
		return e.setAncestor(base, n-1, text)
	case !hasArg && (base == "proc.pname" || base == "proc.pexe" || base == "proc.pexepath" || base == "proc.pcmdline" || base == "proc.ppid"):
		return e.setAncestor(map[string]string{"proc.pname": "proc.aname", "proc.pexe": "proc.aexe",
			"proc.pexepath": "proc.aexepath", "proc.pcmdline": "proc.acmdline", "proc.ppid": "proc.apid"}[base], 0, text)
	case hasArg && (base == "evt.arg" || base == "evt.rawarg"):
		if n, err := strconv.Atoi(arg); err == nil {
			if n < 0 || n > 64 {
				return fmt.Errorf("field %s: argument index must be 0..64", name)
			}
			for len(e.Args) <= n {
				e.Args = append(e.Args, Arg{})
			}
			e.Args[n].Value = text
			return nil
		}
		e.Args = append(e.Args, Arg{Name: arg, Value: text})
		return nil
	case !hasArg && (strings.HasPrefix(base, "evt.arg.") || strings.HasPrefix(base, "evt.rawarg.")):
		e.Args = append(e.Args, Arg{Name: base[strings.LastIndexByte(base, '.')+1:], Value: text})
		return nil
	case hasArg && (base == "k8s.pod.label" || base == "k8s.pod.labels"):
		e.Labels = append(e.Labels, KV{Key: arg, Value: text})
		return nil
	case !hasArg && strings.HasPrefix(base, "k8s.pod.label."):
		e.Labels = append(e.Labels, KV{Key: strings.TrimPrefix(base, "k8s.pod.label."), Value: text})
		return nil
	case hasArg && base == "proc.env":
		e.Env = append(e.Env, KV{Key: arg, Value: text})
		return nil
	case hasArg && base == "container.mount.dest":
		e.Mounts = append(e.Mounts, KV{Key: arg, Value: text})
		return nil
	case hasArg:
		return fmt.Errorf("unknown syscall field %q", name)
	}
	f, ok := syscallFieldByName[base]
	if !ok {
		return fmt.Errorf("unknown syscall field %q", name)
	}
	switch syscallFields[f].kind {
	case kindString:
		e.SetString(f, text)
	case kindInt:
		n, err := parseNumber(text)
		if err != nil {
			return fmt.Errorf("field %s: %q is not a number", name, text)
		}
		e.SetInt(f, n)
	case kindBool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return fmt.Errorf("field %s: %q is not a boolean", name, text)
		}
		e.SetBool(f, b)
	case kindIP:
		ip, err := netip.ParseAddr(text)
		if err != nil {
			return fmt.Errorf("field %s: %q is not an IP address", name, text)
		}
		e.SetIP(f, ip.Unmap())
	}
	return nil
}

func (e *SyscallEvent) setAncestor(field string, i int, text string) error {
	for len(e.Ancestors) <= i {
		e.Ancestors = append(e.Ancestors, Ancestor{})
	}
	a := &e.Ancestors[i]
	switch field {
	case "proc.aname":
		a.Name = text
	case "proc.aexe":
		a.Exe = text
	case "proc.aexepath":
		a.ExePath = text
	case "proc.acmdline":
		a.Cmdline = text
	case "proc.apid":
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return fmt.Errorf("field %s: %q is not a number", field, text)
		}
		a.Pid = n
	}
	return nil
}

// splitFieldArg splits "name[arg]" into its parts.
func splitFieldArg(s string) (name, arg string, hasArg bool) {
	i := strings.IndexByte(s, '[')
	if i < 0 || !strings.HasSuffix(s, "]") {
		return s, "", false
	}
	return s[:i], s[i+1 : len(s)-1], true
}

func valueText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
