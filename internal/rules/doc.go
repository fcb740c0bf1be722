// Package rules is quell's detection engine: it reads rules written in the
// Falco rules language, compiles them once, and matches events against them.
//
// Loading: [Load] parses one or more rules files (YAML sequences of list,
// macro, rule, required_engine_version and required_plugin_versions items)
// in order, applying Falco's append/override/replace semantics, and returns a
// [Ruleset]. Every problem is a [Diagnostic] naming file, line and column.
//
// Compiling: [Compile] turns a Ruleset into an [Engine]. Each enabled rule's
// condition (with macros substituted, lists expanded and exceptions appended
// as "and not (...)") is compiled into a tree of closures over field
// accessors resolved at compile time; nothing is parsed or reflected per
// event. A rule that uses a field quell cannot compute, or whose source is
// unknown, is skipped with a warning naming the rule and the field; it never
// makes loading fail.
//
// Matching: the Engine indexes syscall rules by event type, so an event is
// tested only against rules that can match it. [Engine.MatchSyscall] and
// [Engine.MatchAudit] append matching rules to a caller-supplied slice and do
// not allocate for events that match nothing. A compiled Engine is immutable
// and safe for concurrent use by multiple goroutines; events are not: an
// event must not be matched from two goroutines at once, because audit events
// cache decoded values.
//
// Missing values follow Falco: a comparison on a field that cannot be
// extracted from the event is false (so its negation is true), and only
// "exists" tests for presence. Outputs render missing values as <NA> and
// list values as (a,b).
package rules
