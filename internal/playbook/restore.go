package playbook

import (
	"context"
	"encoding/json"
	"fmt"

	"quell.dev/quell/internal/incident"
	"quell.dev/quell/internal/respond"
)

// Restore reverts every reversible action of an incident, newest first,
// from the records in its timeline, and records each restore. It is
// idempotent: restoring again changes nothing and says so.
func (e *Engine) Restore(ctx context.Context, id int64, who string) ([]respond.Record, error) {
	if err := e.acting(); err != nil {
		return nil, err
	}
	if err := e.own(ctx, id); err != nil {
		return nil, err
	}
	defer e.lock(id)()
	timeline, err := e.opts.Store.Timeline(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read timeline: %w", err)
	}
	var done []respond.Record
	for i := len(timeline) - 1; i >= 0; i-- {
		ent := timeline[i]
		if ent.Type != incident.EntryActionSucceeded {
			continue
		}
		var rec respond.Record
		if err := json.Unmarshal(ent.Data, &rec); err != nil {
			return done, fmt.Errorf("decode record of entry %d: %w", ent.ID, err)
		}
		if !rec.Reversible || rec.DryRun {
			continue
		}
		a, ok := e.opts.Registry.Get(rec.Action)
		r, reversible := a.(respond.Restorer)
		if !ok || !reversible {
			continue
		}
		env := respond.Env{Client: e.opts.Client, Incident: id, Log: e.opts.Log}
		out, err := r.Restore(ctx, env, rec)
		e.m.restores.WithLabelValues(rec.Action, result(err)).Inc()
		if err != nil {
			_, _ = e.append(ctx, id, incident.EntryRestore, "restore of "+rec.Action+" failed: "+err.Error(), rec)
			return done, fmt.Errorf("restore %s %s: %w", rec.Action, rec.Object, err)
		}
		text := "restored " + rec.Action + " " + rec.Object.String() + " (by " + who + ")"
		if !out.Changed {
			text += ": already restored"
		}
		if _, err := e.append(ctx, id, incident.EntryRestore, text, out); err != nil {
			return done, err
		}
		done = append(done, out)
	}
	return done, nil
}
