package taskflow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// ErrPartitionKey means a task's partition function (PartitionBy) panicked
// or returned a key longer than MaxPartitionLen bytes; the job is not
// stored.
var ErrPartitionKey = errors.New("taskflow: partition key")

// limitedPoll is the longest an idle worker that declares limits waits
// before it looks for jobs again, when no wake-up comes: a slot freed, or a
// rate spent, lets held jobs start without one.
const limitedPoll = 100 * time.Millisecond

// MaxPartitionLen is the most bytes of a partition key.
const MaxPartitionLen = storage.MaxPartitionLen

// Limits bound how many jobs run at once and how fast they start, across
// every worker and host: the store enforces them, atomically, when it
// leases jobs. Set at least one of Concurrency and Rate.
//
// Concurrency, when set, is the most jobs running at once (a job a worker
// leased ahead of running it counts).
//
// Rate, when set, is the most jobs started per Per: starts are spaced
// Per/Rate apart, and Burst more may start ahead of that spacing, so that
// at most Burst+1 start at once and at most Rate+Burst in any window of
// length Per. Every start counts: a retry, and a run after a lost lease,
// too. (The store runs GCRA, the generic cell rate algorithm.)
type Limits struct {
	Concurrency int
	Rate        int
	Per         time.Duration
	Burst       int
}

// validate returns an error wrapping ErrInvalidOption unless l limits
// something and every value it sets is in range.
func (l Limits) validate(what string) error {
	var why string
	switch {
	case l.Concurrency == 0 && l.Rate == 0:
		why = "a Concurrency or a Rate of more than 0 is needed"
	case l.Concurrency < 0:
		why = fmt.Sprintf("Concurrency %d: want more than 0", l.Concurrency)
	case l.Rate < 0:
		why = fmt.Sprintf("Rate %d: want more than 0", l.Rate)
	case l.Rate > 0 && l.Per <= 0:
		why = fmt.Sprintf("Per %v: want more than 0", l.Per)
	case l.Rate == 0 && (l.Per != 0 || l.Burst != 0):
		why = "Per and Burst need a Rate"
	case l.Burst < 0:
		why = fmt.Sprintf("Burst %d: want 0 or more", l.Burst)
	case l.Rate > 0 && l.Per/time.Duration(l.Rate) <= 0:
		why = fmt.Sprintf("Rate %d per %v: more than one start per nanosecond", l.Rate, l.Per)
	default:
		return nil
	}
	return fmt.Errorf("%w: %s %+v: %s", ErrInvalidOption, what, l, why)
}

func (l Limits) stored(scope storage.LimitScope, name string) storage.Limit {
	return storage.Limit{Scope: scope, Name: name, Concurrency: l.Concurrency, Rate: l.Rate, Period: l.Per, Burst: l.Burst}
}

// TaskLimit limits the jobs of the task as a whole, across every worker
// and host. A worker that runs the task declares it to the store when it
// starts; see WorkerOptions.QueueLimits for which declaration wins.
func TaskLimit(l Limits) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if err := l.validate("TaskLimit"); err != nil {
			s.fail(err)
		}
		s.taskLimit = &l
	}}
}

// PartitionLimit limits the jobs of each partition of the task (see
// PartitionBy) apart: with Limits{Concurrency: 2}, at most 2 jobs of one
// account run at once, whatever the other accounts run. It needs
// PartitionBy, and may go with a TaskLimit.
func PartitionLimit(l Limits) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if err := l.validate("PartitionLimit"); err != nil {
			s.fail(err)
		}
		s.partitionLimit = &l
	}}
}

// PartitionBy sets the function that gives each job of the task its
// partition key (say, the account it acts for), computed once, when the
// job is enqueued, and stored with it. The store serves the partitions of
// a queue round robin, so that an account with many jobs waiting does not
// delay one with few, and counts PartitionLimit per partition. fn must
// take the task's Args; it may return "" (no partition). A key longer than
// MaxPartitionLen bytes, or a panic, fails the enqueue with an error
// wrapping ErrPartitionKey. A Then continuation, whose arguments are not
// known when it is created, has no partition.
func PartitionBy[Args any](fn func(Args) string) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if fn == nil {
			s.fail(fmt.Errorf("%w: PartitionBy(nil)", ErrInvalidOption))
			return
		}
		s.partitionBy = fn
	}}
}

// partitionFunc returns the task's partition function as its Args type
// wants it, or an error when PartitionBy was given another type.
func partitionFunc[Args any](name string, s *taskSettings) (func(Args) string, error) {
	if s.partitionBy == nil {
		if s.partitionLimit != nil {
			return nil, fmt.Errorf("%w: task %q: PartitionLimit without PartitionBy", ErrInvalidOption, name)
		}
		return nil, nil
	}
	fn, ok := s.partitionBy.(func(Args) string)
	if !ok {
		var args Args
		return nil, fmt.Errorf("%w: task %q: PartitionBy takes a %T, want a func(%T) string", ErrInvalidOption, name, s.partitionBy, args)
	}
	return fn, nil
}

// partitionKey runs fn on args, turning a panic or an overlong key into an
// error wrapping ErrPartitionKey.
func partitionKey[Args any](task string, fn func(Args) string, args Args) (key string, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = "", fmt.Errorf("%w: task %q: the partition function panicked: %v", ErrPartitionKey, task, r)
		}
	}()
	key = fn(args)
	if len(key) > MaxPartitionLen {
		return "", fmt.Errorf("%w: task %q: a key of %d bytes, want at most %d", ErrPartitionKey, task, len(key), MaxPartitionLen)
	}
	return key, nil
}

// limits returns what the worker declares to the store: for every task of
// its registry and every queue it serves, its limits, or zero limits that
// remove a stored one. It reports whether any limit is set.
func (w *Worker) limits() ([]storage.Limit, bool) {
	var out []storage.Limit
	set := false
	add := func(l *Limits, scope storage.LimitScope, name string) {
		if l == nil {
			out = append(out, storage.Limit{Scope: scope, Name: name})
			return
		}
		set = true
		out = append(out, l.stored(scope, name))
	}
	names := w.opts.Registry.Names()
	slices.Sort(names)
	for _, name := range names {
		e := w.opts.Registry.lookup(name)
		add(e.opts.taskLimit, storage.ScopeTask, name)
		add(e.opts.partitionLimit, storage.ScopePartition, name)
	}
	for _, q := range w.opts.Queues {
		var l *Limits
		if ql, ok := w.opts.QueueLimits[q]; ok {
			l = &ql
		}
		add(l, storage.ScopeQueue, q)
	}
	return out, set
}

// limitsToDeclare returns the limits the worker stores when it starts
// (none on a store without storage.FlowControl). On such a store a
// declared limit is an error wrapping ErrNotSupported that names it.
func (w *Worker) limitsToDeclare() ([]storage.Limit, error) {
	limits, set := w.limits()
	if _, ok := w.store.(storage.FlowControl); ok {
		return limits, nil
	}
	if set {
		for _, l := range limits {
			if !l.IsZero() {
				return nil, fmt.Errorf("taskflow: limit %s declared, but the store implements no storage.FlowControl: %w", l.Key(), ErrNotSupported)
			}
		}
	}
	return nil, nil
}

// declareLimits stores the worker's limits, at start-up.
func (w *Worker) declareLimits(ctx context.Context, limits []storage.Limit) error {
	fc, ok := w.store.(storage.FlowControl)
	if !ok || len(limits) == 0 {
		return nil
	}
	if err := fc.SetLimits(ctx, limits); err != nil {
		return fmt.Errorf("taskflow: worker %s declaring its limits: %w", w.opts.ID, err)
	}
	return nil
}

// validateQueueOptions checks the per-queue options of WorkerOptions.
func (o *WorkerOptions) validateQueueOptions() error {
	for _, q := range slices.Sorted(maps.Keys(o.QueueLimits)) {
		if !slices.Contains(o.Queues, q) {
			return fmt.Errorf("%w: QueueLimits names %q, a queue the worker does not serve", ErrInvalidOption, q)
		}
		if err := o.QueueLimits[q].validate("QueueLimits[" + q + "]"); err != nil {
			return err
		}
	}
	for _, q := range slices.Sorted(maps.Keys(o.LocalQueueConcurrency)) {
		if !slices.Contains(o.Queues, q) {
			return fmt.Errorf("%w: LocalQueueConcurrency names %q, a queue the worker does not serve", ErrInvalidOption, q)
		}
		if n := o.LocalQueueConcurrency[q]; n <= 0 {
			return fmt.Errorf("%w: LocalQueueConcurrency[%q] = %d: want more than 0", ErrInvalidOption, q, n)
		}
	}
	for _, q := range slices.Sorted(maps.Keys(o.QueueWeights)) {
		if !slices.Contains(o.Queues, q) {
			return fmt.Errorf("%w: QueueWeights names %q, a queue the worker does not serve", ErrInvalidOption, q)
		}
		if n := o.QueueWeights[q]; n <= 0 {
			return fmt.Errorf("%w: QueueWeights[%q] = %d: want more than 0", ErrInvalidOption, q, n)
		}
	}
	if len(o.QueueWeights) > 0 && len(o.QueueWeights) != len(o.Queues) {
		return fmt.Errorf("%w: QueueWeights must weigh every queue of Queues, or none", ErrInvalidOption)
	}
	return nil
}

// LimitInfo is a limit as Client.Limits reports it: one per declared
// limit, and for a PartitionLimit one per partition with jobs enqueued or
// running.
type LimitInfo struct {
	// Scope is "queue", "task" or "partition"; Name the queue or task.
	Scope, Name string
	// Partition is the partition counted, for a PartitionLimit.
	Partition string
	Limits    Limits
	// Running is how many jobs of the scope run now (leased), the slots in
	// use when Limits.Concurrency is set.
	Running int64
	// Enqueued is how many jobs of the scope wait in their queue.
	Enqueued int64
	// Held is how many of them wait on this limit: Enqueued when the limit
	// is full (every slot in use, or the rate spent until NextStart), else
	// 0. The others wait only for a worker.
	Held int64
	// NextStart is, under a spent rate, when the next job may start.
	NextStart time.Time
}

// Limits reports every stored limit and how much of it is in use. It
// returns an error wrapping ErrNotSupported on a store without
// storage.FlowControl.
func (c *Client) Limits(ctx context.Context) ([]LimitInfo, error) {
	return limitInfos(ctx, c.store)
}

func limitInfos(ctx context.Context, store storage.Store) ([]LimitInfo, error) {
	fc, ok := store.(storage.FlowControl)
	if !ok {
		return nil, fmt.Errorf("taskflow: limits: the store implements no storage.FlowControl: %w", ErrNotSupported)
	}
	use, err := fc.LimitUsage(ctx)
	if err != nil {
		return nil, fmt.Errorf("taskflow: limits: %w", err)
	}
	out := make([]LimitInfo, len(use))
	for i, u := range use {
		l := u.Limit
		info := LimitInfo{
			Scope: string(l.Scope), Name: l.Name, Partition: u.Partition,
			Limits:  Limits{Concurrency: l.Concurrency, Rate: l.Rate, Per: l.Period, Burst: l.Burst},
			Running: u.Running, Enqueued: u.Waiting, NextStart: u.NextStart,
		}
		if (l.Concurrency > 0 && u.Running >= int64(l.Concurrency)) || !u.NextStart.IsZero() {
			info.Held = u.Waiting
		}
		out[i] = info
	}
	return out, nil
}

// LimitTotals merges the partitions of each limit of ls (as Client.Limits
// orders them) into one entry, with no Partition and the sums of Running,
// Enqueued and Held: one series per limit for a metrics system, however
// many partitions (tenants) a limit counts.
func LimitTotals(ls []LimitInfo) []LimitInfo {
	var out []LimitInfo
	for _, l := range ls {
		if n := len(out); n > 0 && out[n-1].Scope == l.Scope && out[n-1].Name == l.Name {
			out[n-1].Running += l.Running
			out[n-1].Enqueued += l.Enqueued
			out[n-1].Held += l.Held
			continue
		}
		l.Partition, l.NextStart = "", time.Time{}
		out = append(out, l)
	}
	return out
}

// limitWatchEvery is how often a worker that declares limits checks them
// for EventLimitHeld, while anyone subscribes to its events.
var limitWatchEvery atomic.Int64

func init() { limitWatchEvery.Store(int64(5 * time.Second)) }

// watchLimits publishes EventLimitHeld each time a limit (per partition)
// begins to hold jobs back, until ctx is done.
func (w *Worker) watchLimits(ctx context.Context) {
	t := time.NewTicker(time.Duration(limitWatchEvery.Load()))
	defer t.Stop()
	held := map[[3]string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.opts.Events.active() {
			continue
		}
		ls, err := limitInfos(ctx, w.store)
		if err != nil {
			w.log.Warn("taskflow: reading limits failed", "err", err)
			continue
		}
		now := w.opts.Clock()
		next := make(map[[3]string]bool, len(held))
		for _, l := range ls {
			if l.Held == 0 {
				continue
			}
			k := [3]string{l.Scope, l.Name, l.Partition}
			next[k] = true
			if held[k] {
				continue
			}
			ev := Event{Kind: EventLimitHeld, At: now, Worker: w.opts.ID, Limit: &l}
			if l.Scope == string(storage.ScopeQueue) {
				ev.Queue = l.Name
			} else {
				ev.Task = l.Name
			}
			w.opts.Events.publish(ev)
		}
		held = next
	}
}
