package taskflow

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// DefaultQueue is the queue a job goes to when no option names one.
const DefaultQueue = "default"

// ValidateQueue returns an error wrapping ErrInvalidQueue unless name
// matches [a-z0-9_-]+ and is at most 100 bytes long.
func ValidateQueue(name string) error {
	ok := name != "" && len(name) <= 100
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w %q: want [a-z0-9_-]+, at most 100 bytes", ErrInvalidQueue, name)
	}
	return nil
}

// MinPriority and MaxPriority bound a job's priority.
const (
	MinPriority = -1 << 31
	MaxPriority = 1<<31 - 1
)

// Options are typed by where they apply, so that one given where it does
// not apply fails to compile:
//
//	                                 NewTask  Enqueue  ContinueWith  AddRecurring
//	                                          (Many,   (Then)
//	                                          Batch)
//	Option: Queue, Priority,          yes      yes      yes           yes
//	  Timeout, Param, Unique,
//	  UniqueByArgs, UniqueFor
//	ScheduleOption: Delay, RunAt      -        yes      -             -
//	ConditionOption: ContinueOn       -        -        yes           -
//	CronOption: TimeZone, Misfire     -        -        -             yes
//	PolicyOption: WithRetry,          yes      -        -             -
//	  MaxRetries, WithFilters,
//	  WithCodec, Retention,
//	  SnoozeWhen,
//	  TaskLimit, PartitionLimit,
//	  PartitionBy
//
// An Option given to NewTask is a default for every job of the task, however
// it is made (enqueued, in a batch, as a continuation, by a recurring
// definition); given to a call it wins over the task's. A value out of range
// makes the call that takes the option return an error wrapping
// ErrInvalidOption (ErrInvalidQueue for a queue name, ErrEncode for a
// parameter that cannot be encoded).
type (
	// TaskOption configures a task: NewTask and RegisterTask take it.
	TaskOption interface{ applyTask(*taskSettings) }
	// JobOption configures the jobs of one call: Enqueue, EnqueueMany and
	// EnqueueBatch take it.
	JobOption interface{ applyJob(*jobSettings) }
	// ContinuationOption configures a continuation: ContinueWith and Then
	// take it.
	ContinuationOption interface{ applyContinuation(*jobSettings) }
	// RecurringOption configures a recurring definition and the jobs it
	// spawns: AddRecurring takes it.
	RecurringOption interface{ applyRecurring(*recurringSettings) }
)

// jobSettings are what options set for jobs: those of a task (its
// defaults), of one call, or of a recurring definition.
type jobSettings struct {
	queue     string
	priority  *int
	timeout   time.Duration
	params    map[string]json.RawMessage
	unique    string // explicit key
	uniqueArg bool   // key from the task name and args
	uniqueFor time.Duration
	delay     time.Duration
	runAt     time.Time
	on        states.Condition
	err       error // the first invalid option
}

func (s *jobSettings) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// taskSettings are a task's: its jobs' defaults and its policies.
type taskSettings struct {
	jobSettings
	retry      *filters.Retry
	maxRetries *int // overrides the MaxRetries of the retry policy
	filters    []filters.Filter
	codec      Codec
	retention  time.Duration
	snoozeWhen func(error) (time.Duration, bool) // errors that are not failures
	// Flow control: the limits the store enforces, and the partition
	// function (a func(Args) string).
	taskLimit      *Limits
	partitionLimit *Limits
	partitionBy    any
}

// recurringSettings are a recurring definition's.
type recurringSettings struct {
	jobSettings
	timeZone string
	misfire  string
}

// Option sets something of a job, wherever jobs are made: it is a
// TaskOption, a JobOption, a ContinuationOption and a RecurringOption.
type Option struct{ set func(*jobSettings) }

func (o Option) applyTask(s *taskSettings)           { o.set(&s.jobSettings) }
func (o Option) applyJob(s *jobSettings)             { o.set(s) }
func (o Option) applyContinuation(s *jobSettings)    { o.set(s) }
func (o Option) applyRecurring(s *recurringSettings) { o.set(&s.jobSettings) }

// ScheduleOption delays one call's jobs: a JobOption only.
type ScheduleOption struct{ set func(*jobSettings) }

func (o ScheduleOption) applyJob(s *jobSettings) { o.set(s) }

// ConditionOption sets when a continuation runs: a ContinuationOption only.
type ConditionOption struct{ on states.Condition }

func (o ConditionOption) applyContinuation(s *jobSettings) {
	switch o.on {
	case states.OnSuccess, states.OnFailure, states.OnFinish:
		s.on = o.on
	default:
		s.fail(fmt.Errorf("%w: continuation condition %q: want %q, %q or %q", ErrInvalidOption, o.on, states.OnSuccess, states.OnFailure, states.OnFinish))
	}
}

// CronOption configures a recurring definition's schedule: a
// RecurringOption only.
type CronOption struct{ set func(*recurringSettings) }

func (o CronOption) applyRecurring(s *recurringSettings) { o.set(s) }

// PolicyOption sets how a task's jobs run and are kept: a TaskOption only.
type PolicyOption struct{ set func(*taskSettings) }

func (o PolicyOption) applyTask(s *taskSettings) { o.set(s) }

// Queue puts jobs in the named queue (default "default"). The name must
// match [a-z0-9_-]+.
func Queue(name string) Option {
	return Option{func(s *jobSettings) {
		if err := ValidateQueue(name); err != nil {
			s.fail(err)
		}
		s.queue = name
	}}
}

// Priority orders jobs within a queue: higher runs first. The default is 0;
// p must be within MinPriority and MaxPriority.
func Priority(p int) Option {
	return Option{func(s *jobSettings) {
		if p < MinPriority || p > MaxPriority {
			s.fail(fmt.Errorf("%w: Priority(%d): want %d to %d", ErrInvalidOption, p, MinPriority, MaxPriority))
		}
		s.priority = &p
	}}
}

// Delay schedules the jobs to run after d (at least 0) instead of at once.
func Delay(d time.Duration) ScheduleOption {
	return ScheduleOption{func(s *jobSettings) {
		if d < 0 {
			s.fail(fmt.Errorf("%w: Delay(%v): want 0 or more", ErrInvalidOption, d))
		}
		s.delay = d
	}}
}

// RunAt schedules the jobs to run at t instead of at once; a time passed
// runs them at once.
func RunAt(t time.Time) ScheduleOption {
	return ScheduleOption{func(s *jobSettings) {
		if t.IsZero() {
			s.fail(fmt.Errorf("%w: RunAt with the zero time", ErrInvalidOption))
		}
		s.runAt = t
	}}
}

// Param sets a job parameter: a named value, stored as JSON, that filters
// and the task (through JobFromContext) can read. The name must not be
// empty.
func Param(name string, value any) Option {
	return Option{func(s *jobSettings) {
		if name == "" {
			s.fail(fmt.Errorf("%w: Param with an empty name", ErrInvalidOption))
			return
		}
		b, err := json.Marshal(value)
		if err != nil {
			s.fail(fmt.Errorf("%w: parameter %q: %w", ErrEncode, name, err))
			return
		}
		s.params = mergeParams(s.params, map[string]json.RawMessage{name: b})
	}}
}

// Timeout cancels the context of an attempt that runs longer than d (more
// than 0); the attempt fails with context.DeadlineExceeded and is retried.
func Timeout(d time.Duration) Option {
	return Option{func(s *jobSettings) {
		if d <= 0 {
			s.fail(fmt.Errorf("%w: Timeout(%v): want more than 0", ErrInvalidOption, d))
		}
		s.timeout = d
	}}
}

// Unique makes jobs unique under key (not empty): while a job holding the
// key is Enqueued, Scheduled, Awaiting or Processing (and, with UniqueFor,
// for that long after it was created), enqueueing another job with the key
// stores nothing and returns a handle to the existing job
// (Handle.Existing). The store enforces the key, atomically.
func Unique(key string) Option {
	return Option{func(s *jobSettings) {
		if key == "" {
			s.fail(fmt.Errorf("%w: Unique with an empty key", ErrInvalidOption))
		}
		s.unique = key
	}}
}

// UniqueByArgs makes jobs unique by their task and encoded arguments (see
// Unique). A Then continuation, whose arguments are not known when it is
// created, cannot take it.
func UniqueByArgs() Option { return Option{func(s *jobSettings) { s.uniqueArg = true }} }

// UniqueFor keeps a unique key held for d (more than 0) after the job is
// created, even once the job has finished. Use it with Unique or
// UniqueByArgs.
func UniqueFor(d time.Duration) Option {
	return Option{func(s *jobSettings) {
		if d <= 0 {
			s.fail(fmt.Errorf("%w: UniqueFor(%v): want more than 0", ErrInvalidOption, d))
		}
		s.uniqueFor = d
	}}
}

// ContinueOn sets when a continuation runs (see Bound.ContinueWith):
// states.OnSuccess (the default), states.OnFailure (the parent failed for
// good or was deleted) or states.OnFinish (either).
func ContinueOn(condition states.Condition) ConditionOption { return ConditionOption{condition} }

// WithRetry sets the task's retry policy, replacing the worker's. Its
// MaxRetries must be 0 or more.
func WithRetry(r filters.Retry) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if r.MaxRetries < 0 {
			s.fail(fmt.Errorf("%w: WithRetry: MaxRetries %d: want 0 or more", ErrInvalidOption, r.MaxRetries))
		}
		s.retry = &r
	}}
}

// MaxRetries sets how many times a failed job of this task is retried (0
// or more; 0 disables retries, as filters.Retry's MaxRetries 0 does). Everything else of the retry policy stays: the task's
// own (WithRetry), else the worker's (WorkerOptions.Retry), with its delay,
// OnlyOn, ExceptOn and WhenExhausted.
func MaxRetries(n int) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if n < 0 {
			s.fail(fmt.Errorf("%w: MaxRetries(%d): want 0 or more", ErrInvalidOption, n))
			return
		}
		s.maxRetries = &n
	}}
}

// WithFilters adds filters that run for this task only, after the global
// ones.
func WithFilters(fs ...filters.Filter) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		for _, f := range fs {
			if !filters.Valid(f) {
				s.fail(fmt.Errorf("%w: %T implements no filter interface", ErrInvalidOption, f))
			}
		}
		s.filters = append(s.filters, fs...)
	}}
}

// WithCodec encodes the task's arguments and result with c instead of JSON.
func WithCodec(c Codec) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if c == nil {
			s.fail(fmt.Errorf("%w: WithCodec(nil)", ErrInvalidOption))
		}
		s.codec = c
	}}
}

// Retention keeps the task's Succeeded and Deleted jobs for d (more than 0)
// before they are removed, instead of the worker's Retention.
func Retention(d time.Duration) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if d <= 0 {
			s.fail(fmt.Errorf("%w: Retention(%v): want more than 0", ErrInvalidOption, d))
		}
		s.retention = d
	}}
}

// TimeZone sets the IANA time zone a recurring job's cron expression is
// read in (default UTC).
func TimeZone(name string) CronOption {
	return CronOption{func(s *recurringSettings) { s.timeZone = name }}
}

// MisfirePolicy says what a recurring job does about occurrences missed
// while no worker ran.
type MisfirePolicy string

// Misfire policies.
const (
	MisfireOnce MisfirePolicy = storage.MisfireOnce // run once to catch up (the default)
	MisfireAll  MisfirePolicy = storage.MisfireAll  // run every missed occurrence, up to 1,000
	MisfireSkip MisfirePolicy = storage.MisfireSkip // skip occurrences later than a minute
)

// Misfire sets what a recurring job does about occurrences missed while no
// worker ran: MisfireOnce (the default), MisfireAll or MisfireSkip.
func Misfire(policy MisfirePolicy) CronOption {
	return CronOption{func(s *recurringSettings) {
		switch policy {
		case MisfireOnce, MisfireAll, MisfireSkip:
			s.misfire = string(policy)
		default:
			s.fail(fmt.Errorf("%w: misfire policy %q: want %q, %q or %q", ErrInvalidOption, policy, MisfireOnce, MisfireAll, MisfireSkip))
		}
	}}
}

// settingsOf applies opts, skipping nil ones, to fresh settings.
func settingsOf[O comparable, S any](opts []O, apply func(O, *S)) S {
	var s S
	var none O
	for _, o := range opts {
		if o != none {
			apply(o, &s)
		}
	}
	return s
}

func taskSettingsOf(opts []TaskOption) taskSettings {
	return settingsOf(opts, TaskOption.applyTask)
}

func jobSettingsOf(opts []JobOption) jobSettings { return settingsOf(opts, JobOption.applyJob) }

func continuationSettingsOf(opts []ContinuationOption) jobSettings {
	return settingsOf(opts, ContinuationOption.applyContinuation)
}

func recurringSettingsOf(opts []RecurringOption) recurringSettings {
	return settingsOf(opts, RecurringOption.applyRecurring)
}

// over returns the settings of s over the defaults d: each setting of s
// wins over d's, and parameters merge.
func (s jobSettings) over(d jobSettings) jobSettings {
	out := s
	out.queue = firstNonEmpty(s.queue, d.queue, DefaultQueue)
	if out.priority == nil {
		out.priority = d.priority
	}
	if out.timeout == 0 {
		out.timeout = d.timeout
	}
	out.params = mergeParams(d.params, s.params)
	if out.unique == "" && !out.uniqueArg {
		out.unique, out.uniqueArg = d.unique, d.uniqueArg
	}
	if out.uniqueFor == 0 {
		out.uniqueFor = d.uniqueFor
	}
	return out
}

// withTimeout returns params with the per-job timeout d recorded, when d is
// set.
func withTimeout(params map[string]json.RawMessage, d time.Duration) map[string]json.RawMessage {
	if d <= 0 {
		return params
	}
	return mergeParams(params, map[string]json.RawMessage{paramTimeout: json.RawMessage(strconv.FormatInt(int64(d), 10))})
}
