package incident

import "strings"

// normalizePriority lower-cases a Falco priority and maps its aliases.
func normalizePriority(p string) string {
	switch p := strings.ToLower(strings.TrimSpace(p)); p {
	case "warn":
		return "warning"
	case "info":
		return "informational"
	case "crit":
		return "critical"
	case "err":
		return "error"
	case "emerg":
		return "emergency"
	default:
		return p
	}
}
