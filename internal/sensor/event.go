package sensor

import (
	"net/netip"
	"slices"
	"time"

	"quell.dev/quell/internal/kubemeta"
	"quell.dev/quell/internal/rules"
	"quell.dev/quell/internal/sensor/proctable"
)

// Kind is what an event is about.
type Kind uint8

// Event kinds.
const (
	KindExec Kind = iota + 1
	KindExit
	KindConnect
)

// Event is one kernel event joined with what the sensor knows about its
// process, container and pod.
type Event struct {
	Kind Kind
	Time time.Time
	// Proc is the process (after the exec, for KindExec).
	Proc proctable.Proc
	// Ancestors lists the parent first.
	Ancestors []rules.Ancestor
	// ContainerID is the full ID, or "host".
	ContainerID string
	// UserName and LoginName are the names of Proc.UID and Proc.LoginUID,
	// "" when unknown.
	UserName, LoginName string
	// ArgsTruncated reports that argv was longer than the kernel program
	// copies.
	ArgsTruncated bool

	// Connect: destination and source, protocol number.
	Daddr, Saddr netip.Addr
	Dport, Sport uint16
	Protocol     uint8

	// Pod is the container's pod, nil when unknown or on the host.
	Pod *kubemeta.Pod

	// waitUntil is when an event waiting for its pod gives up.
	waitUntil time.Time
}

// clone returns a copy that does not share the ancestors slice.
func (e *Event) clone() *Event {
	c := *e
	c.Ancestors = slices.Clone(e.Ancestors)
	return &c
}
