package taskflow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/taskflow-go/taskflow/filters"
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
	queue    string
	priority *int
	delay    time.Duration
	runAt    time.Time
	params   map[string]json.RawMessage
	err      error

	// task only
	retry    *filters.Retry
	filters  []filters.Filter
	timeout  time.Duration
	codec    Codec
	taskOnly []string
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

// MaxRetries sets how many times a failed job of this task is retried, with
// the worker's delay policy otherwise. 0 disables retries. Task only.
func MaxRetries(n int) Option {
	return func(o *options) {
		r := filters.Retry{Attempts: n}
		if n == 0 {
			r = filters.NoRetry
		}
		if o.retry != nil {
			o.retry.Attempts = r.Attempts
		} else {
			o.retry = &r
		}
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
// attempt fails with context.DeadlineExceeded and is retried. Task only.
func Timeout(d time.Duration) Option {
	return func(o *options) { o.timeout = d; o.taskOnly = append(o.taskOnly, "Timeout") }
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
