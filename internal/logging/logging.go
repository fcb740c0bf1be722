// Package logging builds quell's slog loggers: text for terminals, JSON for
// machines. It holds no global state; callers pass the logger on.
package logging

import (
	"io"
	"log/slog"
)

// New returns a logger writing to w in format ("json" or anything else for
// text) at the given minimum level.
func New(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Discard returns a logger that drops everything.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
