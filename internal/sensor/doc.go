// Package sensor is quell's node agent: it turns kernel events into alerts.
//
// The path of an event:
//
//	kernel programs (package bpf) → ring buffer → reader goroutine →
//	bounded queue (full: drop and count, the reader never blocks) →
//	pipeline goroutine: process table (package proctable), container ID
//	(package container), pod (package kubemeta, waiting a bounded time
//	for pods not yet known) → rules.Engine → Output.
//
// [Sensor.Start] runs all of it until its context ends. Outputs are
// [ServerOutput], which batches alerts to quell's server with retries and a
// bounded buffer, and [WriterOutput], which prints Falco-format JSON lines.
package sensor
