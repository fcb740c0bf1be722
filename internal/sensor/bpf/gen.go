package bpf

// Regenerate with `go generate ./internal/sensor/bpf` (needs clang and
// libbpf headers); the outputs are committed so that builds need neither.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -tags linux -target bpfel,bpfeb -type exec_event -type exit_event -type connect_event -type header quell quell.bpf.c -- -O2 -g -Wall -Werror -I.
