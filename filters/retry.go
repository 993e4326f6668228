package filters

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/taskflow-go/taskflow/states"
)

// ErrPermanent marks an error that no retry can fix. Wrap an error with
// [Permanent], or with fmt.Errorf("...: %w", filters.ErrPermanent), and
// [Retry] will not retry the job.
var ErrPermanent = errors.New("permanent error")

// ErrBadInput marks an error about the job rather than the work: its
// arguments cannot be decoded, or its result cannot be encoded. [Retry] neither retries such a job nor
// deletes it, whatever WhenExhausted says: it stays Failed, with the
// problem named, for a person to fix and requeue.
var ErrBadInput = errors.New("bad input")

// Permanent wraps err so that [Retry] does not retry it. The result matches
// both err and [ErrPermanent] with errors.Is. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// Exhausted says what [Retry] does once a job has used up its attempts.
type Exhausted int

const (
	// FailWhenExhausted leaves the job Failed, for a person to requeue or
	// delete. It is the default.
	FailWhenExhausted Exhausted = iota
	// DeleteWhenExhausted moves the job to Deleted.
	DeleteWhenExhausted
)

// DefaultMaxRetries is how many retries [DefaultRetry] allows, as in
// Hangfire.
const DefaultMaxRetries = 10

// Retry is the automatic retry policy, an [ElectStateFilter]. When an
// attempt fails it replaces the Failed candidate with Scheduled (or Enqueued
// when the delay is zero) until the retries are used up. The zero value
// never retries; [DefaultRetry] is the policy of a worker that sets none.
type Retry struct {
	Defaults
	// MaxRetries is how many times a failed job is retried: with 10, a job
	// runs at most 11 times; 0 means no retries, as it does for
	// taskflow.MaxRetries. A negative value is invalid: WithRetry,
	// MaxRetries and NewWorker refuse it (a Retry used on its own treats it
	// as 0).
	MaxRetries int
	// Delay returns the wait before retry n (n starts at 1). nil means
	// [HangfireDelay].
	Delay func(n int) time.Duration
	// OnlyOn, when not empty, retries only errors matching one of these
	// with errors.Is.
	OnlyOn []error
	// ExceptOn never retries errors matching one of these with errors.Is.
	ExceptOn []error
	// WhenExhausted says what happens once retries are used up, or to an
	// error the policy does not retry. A job failed by bad input
	// ([ErrBadInput]) always stays Failed.
	WhenExhausted Exhausted
}

// NoRetry is a retry policy that never retries: the zero Retry.
var NoRetry = Retry{}

// DefaultRetry is Hangfire's policy: 10 retries, delay (n-1)^4 + 15 +
// rand(0..29)·n seconds before retry n, stay Failed when exhausted.
var DefaultRetry = Retry{MaxRetries: DefaultMaxRetries}

// HangfireDelay is Hangfire's back-off: (n-1)^4 + 15 + rand(0..29)·n
// seconds before retry n.
func HangfireDelay(n int) time.Duration {
	base := (n - 1) * (n - 1) * (n - 1) * (n - 1)
	return time.Duration(base+15+rand.IntN(30)*n) * time.Second
}

func (r Retry) attempts() int { return max(r.MaxRetries, 0) }

// Retryable reports whether r would retry err (ignoring how many attempts
// are left).
func (r Retry) Retryable(err error) bool {
	if err == nil || errors.Is(err, ErrPermanent) || errors.Is(err, ErrBadInput) {
		return false
	}
	for _, e := range r.ExceptOn {
		if errors.Is(err, e) {
			return false
		}
	}
	if len(r.OnlyOn) == 0 {
		return true
	}
	for _, e := range r.OnlyOn {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// OnStateElection implements [ElectStateFilter].
func (r Retry) OnStateElection(_ context.Context, c *ElectStateContext) {
	failed, ok := c.Candidate().(states.Failed)
	if !ok {
		return
	}
	n, limit := c.Job.Attempt(), r.attempts()
	if !r.Retryable(c.Err) || n > limit {
		if r.WhenExhausted == DeleteWhenExhausted && !errors.Is(c.Err, ErrBadInput) {
			c.SetCandidate(states.Deleted{DeletedAt: c.Now, ErrorMessage: failed.ErrorMessage, ErrorCode: failed.ErrorCode,
				ErrorMatches: failed.ErrorMatches, Reason: exhaustedReason(r, c.Err, limit)})
		}
		return
	}
	delay := HangfireDelay
	if r.Delay != nil {
		delay = r.Delay
	}
	reason := fmt.Sprintf("Retry attempt %d of %d: %s", n, limit, failed.ErrorMessage)
	d := delay(n)
	if d <= 0 {
		c.SetCandidate(states.Enqueued{Queue: c.Job.Queue(), EnqueuedAt: c.Now, Reason: reason})
		return
	}
	c.SetCandidate(states.Scheduled{EnqueueAt: c.Now.Add(d), ScheduledAt: c.Now, Reason: reason})
}

func exhaustedReason(r Retry, err error, limit int) string {
	if !r.Retryable(err) {
		return "Error is not retryable"
	}
	return fmt.Sprintf("Retry attempts exceeded (%d)", limit)
}
