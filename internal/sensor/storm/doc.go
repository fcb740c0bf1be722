// Package storm generates exec storms for measuring the sensor: a
// program that does nothing (a minimal static ELF executable written on
// the spot, so an exec costs no dynamic loading or runtime start) launched
// by fork, exec and wait at a fixed rate or as fast as the machine goes.
//
// Contract: Nop writes the program for the running architecture (amd64,
// arm64) or returns ErrUnsupported; Run launches until its duration ends
// and returns once every launched process was reaped, with how many were
// launched and how long launching took.
package storm
