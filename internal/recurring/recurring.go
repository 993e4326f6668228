// Package recurring runs recurring jobs: it parses cron expressions in a
// time zone, decides which occurrences to fire under a misfire policy, and
// fires due definitions through the store, where a compare-and-set on the
// next run time makes each occurrence fire exactly once across any number of
// workers.
//
// An engine part of the worker: it imports storage, never package taskflow.
package recurring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/taskflow-go/taskflow/storage"
)

// MaxCatchUp bounds how many missed occurrences MisfireAll fires at once.
const MaxCatchUp = 1000

// Tolerance is how late an occurrence may fire and still count as on time
// under MisfireSkip.
const Tolerance = time.Minute

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression in a time zone.
type Schedule struct {
	cron cron.Schedule
	loc  *time.Location
}

// Parse reads a cron expression (five fields, or six with seconds first;
// or a macro such as @daily or @every 90s) in the IANA time zone tz (empty
// means UTC).
func Parse(spec, tz string) (Schedule, error) {
	loc := time.UTC
	if tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil {
			return Schedule{}, fmt.Errorf("time zone %q: %w", tz, err)
		}
	}
	c, err := parser.Parse(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("cron expression %q: %w", spec, err)
	}
	return Schedule{cron: c, loc: loc}, nil
}

// Next returns the first occurrence after t, or the zero time if there is
// none. Wall-clock fields are read in the schedule's time zone, so daylight
// saving changes are honoured.
func (s Schedule) Next(t time.Time) time.Time {
	n := s.cron.Next(t.In(s.loc))
	if n.IsZero() {
		return n
	}
	return n.UTC()
}

// Plan returns the occurrences to fire for a definition whose next run was
// due at due, at time now, under the misfire policy, and the next run after
// them.
func Plan(s Schedule, due, now time.Time, misfire string) (fire []time.Time, next time.Time) {
	var missed []time.Time
	at := due
	for !at.IsZero() && !at.After(now) {
		missed = append(missed, at)
		if len(missed) > MaxCatchUp {
			missed = missed[1:]
		}
		at = s.Next(at)
	}
	if len(missed) == 0 {
		return nil, due
	}
	last := missed[len(missed)-1]
	switch misfire {
	case storage.MisfireAll:
		return missed, at
	case storage.MisfireSkip:
		if now.Sub(last) > Tolerance {
			return nil, at
		}
	}
	return []time.Time{last}, at
}

// Spawner makes the jobs of occurrences, and hears how storing them went.
type Spawner interface {
	// Spawn builds the job def runs for the occurrence at; a nil job skips
	// the occurrence.
	Spawn(ctx context.Context, def *storage.RecurringJob, at time.Time) (*storage.Job, error)
	// Fired is told how storing the jobs of one firing of def ended.
	Fired(ctx context.Context, def *storage.RecurringJob, jobs []*storage.Job, err error)
}

// Batch is the most definitions fired per storage call.
const Batch = 100

// Run fires due recurring jobs until ctx is done. It sleeps until the next
// run time the store reports, at most maxWait, or until wake fires.
func Run(ctx context.Context, store storage.Recurring, now func() time.Time, maxWait time.Duration, wake <-chan struct{}, spawn Spawner, log *slog.Logger) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-wake:
		}
		next, fired, err := Tick(ctx, store, now(), spawn, log)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Warn("taskflow: reading due recurring jobs failed", "err", err)
			timer.Reset(time.Second)
			continue
		}
		wait := maxWait
		if fired == Batch {
			wait = 0
		} else if !next.IsZero() {
			wait = min(wait, max(next.Sub(now()), 0))
		}
		timer.Reset(max(wait, time.Millisecond))
	}
}

// Tick fires up to Batch definitions due at now, and returns the earliest
// next run among the rest and those it fired (zero if none), and how many
// were due. Only reading the due definitions fails it; a definition that
// fails to fire is logged and left for the next tick.
func Tick(ctx context.Context, store storage.Recurring, now time.Time, spawn Spawner, log *slog.Logger) (next time.Time, due int, err error) {
	defs, next, err := store.DueRecurring(ctx, now, Batch)
	if err != nil {
		return time.Time{}, 0, err
	}
	for _, def := range defs {
		if n := fire(ctx, store, def, now, spawn, log); !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next, len(defs), nil
}

// fire fires one due definition and returns its new next run.
func fire(ctx context.Context, store storage.Recurring, def *storage.RecurringJob, now time.Time, spawn Spawner, log *slog.Logger) time.Time {
	s, err := Parse(def.Spec, def.TimeZone)
	if err != nil {
		log.Error("taskflow: recurring job has an invalid schedule; pausing it", "recurring_id", def.ID, "err", err)
		_ = store.SetRecurringPaused(ctx, def.ID, true, time.Time{})
		return time.Time{}
	}
	occurrences, next := Plan(s, def.NextRun, now, def.Misfire)
	p := &storage.FireParams{ID: def.ID, ExpectedNext: def.NextRun, NextRun: next, LastRun: def.LastRun, Now: now}
	for _, at := range occurrences {
		j, err := spawn.Spawn(ctx, def, at)
		if err != nil {
			log.Error("taskflow: building a recurring job failed", "recurring_id", def.ID, "err", err)
			return time.Time{}
		}
		if j != nil {
			p.Jobs = append(p.Jobs, j)
		}
		p.LastRun = at
	}
	err = store.FireRecurring(ctx, p)
	spawn.Fired(ctx, def, p.Jobs, err)
	switch {
	case errors.Is(err, storage.ErrStateConflict):
		return time.Time{} // another worker fired it
	case err != nil:
		if ctx.Err() == nil {
			log.Warn("taskflow: firing a recurring job failed", "recurring_id", def.ID, "err", err)
		}
		return time.Time{}
	}
	return next
}
