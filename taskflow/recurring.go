package taskflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/recurring"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// AddRecurring creates or updates the recurring job id, which runs the
// task with args on the cron schedule spec: five fields (minute hour
// day-of-month month day-of-week), or six with seconds first, or a macro
// (@yearly, @monthly, @weekly, @daily, @hourly, @every 90s). It takes
// TimeZone (IANA name, default UTC, daylight saving honoured) and Misfire,
// and every Option, which applies to the jobs it spawns as to enqueued
// ones, over the task's own defaults. An invalid expression, time zone or
// option returns an error wrapping ErrInvalidOption and stores nothing.
//
// The definition and its next run time live in the store, so they survive
// restarts, and every worker serving the store fires each occurrence
// exactly once between them. Declaring the same definition again (say, at
// every start-up) keeps its schedule; changing its spec or time zone
// restarts it. A spawned job carries the parameters
// "taskflow.recurring_id" and "taskflow.recurring_at" (the occurrence).
func (b Bound[Args, Result]) AddRecurring(ctx context.Context, id, spec string, args Args, opts ...RecurringOption) error {
	rs, err := b.client.recurring()
	if err != nil {
		return err
	}
	t := b.task
	r := recurringSettingsOf(opts)
	switch {
	case r.err != nil:
		return fmt.Errorf("recurring job %q: %w", id, r.err)
	case id == "":
		return fmt.Errorf("%w: empty recurring job id", ErrInvalidOption)
	}
	sched, err := recurring.Parse(spec, r.timeZone)
	if err != nil {
		return fmt.Errorf("%w: recurring job %q: %w", ErrInvalidOption, id, err)
	}
	raw, err := t.codec.Marshal(args)
	if err != nil {
		return fmt.Errorf("%w args of recurring job %q (task %q): %w", ErrEncode, id, t.name, err)
	}
	o := r.jobSettings.over(t.opts.jobSettings)
	if err := b.client.supports(o.unique != "" || o.uniqueArg, false, false); err != nil {
		return fmt.Errorf("recurring job %q: %w", id, err)
	}
	now := b.client.now()
	def := &storage.RecurringJob{
		ID: id, Task: t.name, Args: raw, Spec: spec, TimeZone: r.timeZone,
		Queue: o.queue, Misfire: firstNonEmpty(r.misfire, storage.MisfireOnce),
		Params: withTimeout(o.params, r.timeout), UniqueKey: o.unique, UniqueFor: o.uniqueFor,
		NextRun: sched.Next(now), CreatedAt: now, UpdatedAt: now,
	}
	if o.priority != nil {
		def.Priority = *o.priority
	}
	if o.uniqueArg {
		def.UniqueKey = argsKey(t.name, raw)
	}
	if err := rs.UpsertRecurring(ctx, def); err != nil {
		return fmt.Errorf("taskflow: store recurring job %q: %w", id, err)
	}
	return nil
}

// AddRecurring adds or updates a recurring job on the default client. See
// Bound.AddRecurring.
func (t *Task[Args, Result]) AddRecurring(ctx context.Context, id, spec string, args Args, opts ...RecurringOption) error {
	b, err := t.onDefault()
	if err != nil {
		return err
	}
	return b.AddRecurring(ctx, id, spec, args, opts...)
}

func (c *Client) recurring() (storage.Recurring, error) {
	rs, err := capability[storage.Recurring](c.store)
	if err != nil {
		return nil, fmt.Errorf("taskflow: recurring jobs: %w", err)
	}
	return rs, nil
}

// RemoveRecurring deletes the recurring job id; jobs it spawned stay.
func (c *Client) RemoveRecurring(ctx context.Context, id string) error {
	rs, err := c.recurring()
	if err == nil {
		err = rs.RemoveRecurring(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("taskflow: remove recurring job %q: %w", id, err)
	}
	return nil
}

// PauseRecurring stops the recurring job id from firing until resumed.
func (c *Client) PauseRecurring(ctx context.Context, id string) error {
	rs, err := c.recurring()
	if err == nil {
		err = rs.SetRecurringPaused(ctx, id, true, time.Time{})
	}
	if err != nil {
		return fmt.Errorf("taskflow: pause recurring job %q: %w", id, err)
	}
	return nil
}

// ResumeRecurring lets a paused recurring job fire again, from its next
// occurrence after now: occurrences passed while paused do not fire.
func (c *Client) ResumeRecurring(ctx context.Context, id string) error {
	def, err := c.RecurringJob(ctx, id)
	if err != nil {
		return err
	}
	sched, err := recurring.Parse(def.Spec, def.TimeZone)
	if err != nil {
		return fmt.Errorf("%w: recurring job %q: %w", ErrInvalidOption, id, err)
	}
	rs, _ := c.recurring()
	if err := rs.SetRecurringPaused(ctx, id, false, sched.Next(c.now())); err != nil {
		return fmt.Errorf("taskflow: resume recurring job %q: %w", id, err)
	}
	return nil
}

// TriggerRecurring enqueues a job of the recurring job id now, without
// changing its schedule, through the client's filters and the task's, and
// returns the new job's ID (or, when its unique key is held, the holder's).
func (c *Client) TriggerRecurring(ctx context.Context, id string) (uuid.UUID, error) {
	def, err := c.storedRecurring(ctx, id)
	if err != nil {
		return uuid.Nil, err
	}
	now := c.now()
	j, err := newRecurringJob(def, now, now)
	if err != nil {
		return uuid.Nil, err
	}
	var taskFilters []filters.Filter
	e := c.registry.lookup(def.Task)
	if e != nil {
		taskFilters = e.opts.filters
	}
	if err := e.partitionOf(j); err != nil {
		return uuid.Nil, fmt.Errorf("taskflow: trigger recurring job %q: %w", id, err)
	}
	st, err := j.CurrentState()
	if err != nil {
		return uuid.Nil, err
	}
	ids, err := c.create(ctx, []*storage.Job{j}, st, j.StateData, taskFilters)
	if err != nil {
		return uuid.Nil, fmt.Errorf("taskflow: trigger recurring job %q: %w", id, err)
	}
	// Record the run as the last one, the schedule unchanged. A worker that
	// fired the definition meanwhile, or a paused one, refuses it
	// (ErrStateConflict): the job stands, and so does the last run.
	rs, _ := c.recurring()
	if err := rs.FireRecurring(ctx, &storage.FireParams{ID: id, ExpectedNext: def.NextRun, NextRun: def.NextRun, LastRun: now, LastJobID: ids[0], Now: now}); err != nil &&
		!errors.Is(err, storage.ErrStateConflict) {
		return ids[0], fmt.Errorf("taskflow: trigger recurring job %q: record the run: %w", id, err)
	}
	return ids[0], nil
}

// RecurringJob is a recurring definition and its schedule.
type RecurringJob struct {
	ID   string
	Task string
	// Args are the encoded arguments of every job it spawns.
	Args     []byte
	Spec     string // the cron expression
	TimeZone string // IANA name; empty means UTC
	Misfire  MisfirePolicy
	Paused   bool
	// NextRun is the next occurrence; LastRun the last one fired and
	// LastJobID the job it spawned.
	NextRun   time.Time
	LastRun   time.Time
	LastJobID uuid.UUID
	// Queue, Priority, Params, UniqueKey and UniqueFor are given to every
	// job it spawns.
	Queue     string
	Priority  int
	Params    map[string]json.RawMessage
	UniqueKey string
	UniqueFor time.Duration
	CreatedAt time.Time
	UpdatedAt time.Time
}

func newRecurringJobInfo(d *storage.RecurringJob) *RecurringJob {
	return &RecurringJob{
		ID: d.ID, Task: d.Task, Args: d.Args, Spec: d.Spec, TimeZone: d.TimeZone, Misfire: MisfirePolicy(d.Misfire),
		Paused: d.Paused, NextRun: d.NextRun, LastRun: d.LastRun, LastJobID: d.LastJobID, Queue: d.Queue,
		Priority: d.Priority, Params: d.Params, UniqueKey: d.UniqueKey, UniqueFor: d.UniqueFor,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
	}
}

// RecurringJob returns the definition and schedule of the recurring job id,
// or an error wrapping ErrNotFound.
func (c *Client) RecurringJob(ctx context.Context, id string) (*RecurringJob, error) {
	def, err := c.storedRecurring(ctx, id)
	if err != nil {
		return nil, err
	}
	return newRecurringJobInfo(def), nil
}

func (c *Client) storedRecurring(ctx context.Context, id string) (*storage.RecurringJob, error) {
	rs, err := c.recurring()
	if err != nil {
		return nil, err
	}
	def, err := rs.GetRecurring(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("taskflow: recurring job %q: %w", id, err)
	}
	return def, nil
}

// RecurringJobs lists every recurring job, ordered by ID.
func (c *Client) RecurringJobs(ctx context.Context) ([]*RecurringJob, error) {
	rs, err := c.recurring()
	if err != nil {
		return nil, err
	}
	defs, err := rs.ListRecurring(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskflow: list recurring jobs: %w", err)
	}
	out := make([]*RecurringJob, len(defs))
	for i, d := range defs {
		out[i] = newRecurringJobInfo(d)
	}
	return out, nil
}

// newRecurringJob builds the Enqueued job that def spawns for the occurrence
// at.
func newRecurringJob(def *storage.RecurringJob, at, now time.Time) (*storage.Job, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("taskflow: new job id: %w", err)
	}
	initial := states.Enqueued{Queue: def.Queue, EnqueuedAt: now, Reason: "recurring job " + def.ID}
	data, err := states.Marshal(initial)
	if err != nil {
		return nil, err
	}
	atJSON, err := json.Marshal(at)
	if err != nil {
		return nil, err
	}
	spec := jobSpec{task: def.Task, queue: def.Queue, priority: def.Priority, initial: initial, data: data, now: now,
		params:    mergeParams(def.Params, map[string]json.RawMessage{paramRecurringID: jsonString(def.ID), paramRecurringAt: atJSON}),
		uniqueFor: def.UniqueFor}
	j := &storage.Job{}
	spec.build(j, id, def.Args, def.UniqueKey)
	return j, nil
}

// recurringSpawner makes the jobs of recurring occurrences for a worker,
// through the client filters of the worker and of the task.
type recurringSpawner struct{ w *Worker }

// Spawn implements recurring.Spawner: a creating filter that cancels the
// job skips the occurrence.
func (s recurringSpawner) Spawn(ctx context.Context, def *storage.RecurringJob, at time.Time) (*storage.Job, error) {
	now := s.w.opts.Clock()
	j, err := newRecurringJob(def, at, now)
	if err != nil {
		return nil, err
	}
	if err := s.w.runtime(def.Task).entry.partitionOf(j); err != nil {
		return nil, err
	}
	st, err := j.CurrentState()
	if err != nil {
		return nil, err
	}
	err = s.w.runtime(def.Task).pipe.creating(ctx, []*storage.Job{j}, st, now)
	switch {
	case errors.Is(err, ErrCanceled):
		s.w.log.Info("taskflow: a filter canceled a recurring occurrence", "recurring_id", def.ID, "at", at, "err", err)
		return nil, nil
	case err != nil:
		return nil, err
	}
	return j, nil
}

// Fired implements recurring.Spawner.
func (s recurringSpawner) Fired(ctx context.Context, def *storage.RecurringJob, jobs []*storage.Job, err error) {
	known := &knownState{}
	s.w.runtime(def.Task).pipe.created(ctx, jobs, nil, err, known)
	if err == nil {
		s.w.opts.Events.created(jobs, nil, s.w.opts.ID, known)
	}
}
