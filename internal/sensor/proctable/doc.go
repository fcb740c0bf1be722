// Package proctable keeps the node's processes, so that an event about one
// process can name its parent, ancestors and session leader
// (proc.pname, proc.aname[N], proc.sname, ...).
//
// The table is seeded from /proc, updated from exec and exit events, and
// falls back to /proc for a process it has not seen (one forked before the
// sensor started and not exec'd since, say). A Table is owned by one
// goroutine: it is not safe for concurrent use.
package proctable
