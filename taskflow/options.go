package taskflow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// DefaultQueue is the queue a job goes to when no option names one.
const DefaultQueue = "default"

var queueName = regexp.MustCompile(`^[a-z0-9_-]+$`)

// ValidateQueue returns an error wrapping ErrInvalidQueue unless name
// matches [a-z0-9_-]+ and is at most 100 bytes long.
func ValidateQueue(name string) error {
	if len(name) > 100 || !queueName.MatchString(name) {
		return fmt.Errorf("%w %q: want [a-z0-9_-]+, at most 100 bytes", ErrInvalidQueue, name)
	}
	return nil
}

// Option configures a task when passed to NewTask, or one job when passed to
// Enqueue. A job's setting wins over its task's, which wins over the
// default. Options marked "task only" make Enqueue fail with
// ErrInvalidOption.
type Option func(*options)

type options struct {
	queue     string
	priority  *int
	delay     time.Duration
	runAt     time.Time
	params    map[string]json.RawMessage
	timeout   time.Duration
	unique    string // explicit key
	uniqueArg bool   // key from the task name and args
	uniqueFor time.Duration
	on        string // continuation condition
	err       error

	// task only
	retry      *filters.Retry
	maxRetries *int // overrides the Attempts of the retry policy
	filters    []filters.Filter
	codec      Codec
	retention  time.Duration
	taskOnly   []string

	// recurring only
	timeZone string
	misfire  string
}

// Queue puts jobs in the named queue (default "default"). The name must
// match [a-z0-9_-]+.
func Queue(name string) Option {
	return func(o *options) {
		if err := ValidateQueue(name); err != nil {
			o.fail(err)
		}
		o.queue = name
	}
}

// Priority orders jobs within a queue: higher runs first. The default is 0.
func Priority(p int) Option { return func(o *options) { o.priority = &p } }

// Delay schedules the job to run after d instead of at once. Job only.
func Delay(d time.Duration) Option { return func(o *options) { o.delay = d } }

// RunAt schedules the job to run at t instead of at once. Job only.
func RunAt(t time.Time) Option { return func(o *options) { o.runAt = t } }

// Param sets a job parameter: a named value, stored as JSON, that filters
// and the task (through JobFromContext) can read.
func Param(name string, value any) Option {
	return func(o *options) {
		b, err := json.Marshal(value)
		if err != nil {
			o.fail(fmt.Errorf("%w: parameter %q: %w", ErrEncode, name, err))
			return
		}
		if o.params == nil {
			o.params = map[string]json.RawMessage{}
		}
		o.params[name] = b
	}
}

// WithRetry sets the task's retry policy, replacing the worker's. Task only.
func WithRetry(r filters.Retry) Option {
	return func(o *options) { o.retry = &r; o.taskOnly = append(o.taskOnly, "WithRetry") }
}

// MaxRetries sets how many times a failed job of this task is retried; 0
// disables retries. Everything else of the retry policy stays: the task's
// own (WithRetry), else the worker's (WorkerOptions.Retry), with its delay,
// OnlyOn, ExceptOn and WhenExhausted. Task only.
func MaxRetries(n int) Option {
	return func(o *options) {
		if n < 0 {
			o.fail(fmt.Errorf("%w: MaxRetries(%d): want 0 or more", ErrInvalidOption, n))
			return
		}
		if n == 0 {
			n = filters.NoRetry.Attempts
		}
		o.maxRetries = &n
		o.taskOnly = append(o.taskOnly, "MaxRetries")
	}
}

// WithFilters adds filters that run for this task only, after the global
// ones. Task only.
func WithFilters(fs ...filters.Filter) Option {
	return func(o *options) {
		for _, f := range fs {
			if !filters.Valid(f) {
				o.fail(fmt.Errorf("%w: %T implements no filter interface", ErrInvalidOption, f))
			}
		}
		o.filters = append(o.filters, fs...)
		o.taskOnly = append(o.taskOnly, "WithFilters")
	}
}

// Timeout cancels the context of an attempt that runs longer than d; the
// attempt fails with context.DeadlineExceeded and is retried. Given to
// Enqueue it applies to that job only.
func Timeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Unique makes the job unique under key: while a job holding the key is
// Enqueued, Scheduled, Awaiting or Processing (and, with UniqueFor, for that
// long after it was created), enqueueing another job with the key stores
// nothing and returns a handle to the existing job. The key is enforced by
// the store, atomically.
func Unique(key string) Option { return func(o *options) { o.unique = key } }

// UniqueByArgs makes jobs unique by their task and encoded arguments (see
// Unique). Given to NewTask it applies to every job of the task.
func UniqueByArgs() Option { return func(o *options) { o.uniqueArg = true } }

// UniqueFor keeps a unique key held for d after the job is created, even
// once the job has finished. Use it with Unique or UniqueByArgs.
func UniqueFor(d time.Duration) Option { return func(o *options) { o.uniqueFor = d } }

// ContinueOn sets when a continuation runs (see Bound.ContinueWith):
// states.OnSuccess (the default), states.OnFailure (the parent failed for
// good or was deleted) or states.OnFinish (either).
func ContinueOn(condition string) Option {
	return func(o *options) {
		switch condition {
		case states.OnSuccess, states.OnFailure, states.OnFinish:
			o.on = condition
		default:
			o.fail(fmt.Errorf("%w: continuation condition %q: want %q, %q or %q", ErrInvalidOption, condition, states.OnSuccess, states.OnFailure, states.OnFinish))
		}
	}
}

// Retention keeps the task's Succeeded and Deleted jobs for d before they
// are removed, instead of the worker's Retention. Task only.
func Retention(d time.Duration) Option {
	return func(o *options) { o.retention = d; o.taskOnly = append(o.taskOnly, "Retention") }
}

// TimeZone sets the IANA time zone a recurring job's cron expression is
// read in (default UTC). Recurring jobs only.
func TimeZone(name string) Option { return func(o *options) { o.timeZone = name } }

// Misfire sets what a recurring job does about occurrences missed while no
// worker ran: storage.MisfireOnce (run once to catch up; the default),
// storage.MisfireAll (run each) or storage.MisfireSkip. Recurring jobs only.
func Misfire(policy string) Option {
	return func(o *options) {
		switch policy {
		case storage.MisfireOnce, storage.MisfireAll, storage.MisfireSkip:
			o.misfire = policy
		default:
			o.fail(fmt.Errorf("%w: misfire policy %q: want %q, %q or %q", ErrInvalidOption, policy, storage.MisfireOnce, storage.MisfireAll, storage.MisfireSkip))
		}
	}
}

// forJob checks that o holds only options that apply to one job.
func (o *options) forJob(task string) error {
	switch {
	case o.err != nil:
		return fmt.Errorf("enqueue %q: %w", task, o.err)
	case len(o.taskOnly) > 0:
		return fmt.Errorf("%w: %s applies to tasks, not to one enqueue of %q", ErrInvalidOption, o.taskOnly[0], task)
	case o.timeZone != "" || o.misfire != "":
		return fmt.Errorf("%w: TimeZone and Misfire apply to recurring jobs, not to one enqueue of %q", ErrInvalidOption, task)
	}
	return nil
}

// WithCodec encodes the task's arguments and result with c instead of JSON.
// Task only.
func WithCodec(c Codec) Option {
	return func(o *options) { o.codec = c; o.taskOnly = append(o.taskOnly, "WithCodec") }
}

func (o *options) fail(err error) {
	if o.err == nil {
		o.err = err
	}
}

func applyOptions(opts []Option) options {
	var o options
	for _, fn := range opts {
		if fn != nil {
			fn(&o)
		}
	}
	return o
}
