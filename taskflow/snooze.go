package taskflow

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SnoozeError is the error [Snooze] returns. A task that returns it, alone
// or wrapped, has its job run again After from now, without spending an
// attempt or a retry.
type SnoozeError struct {
	// After is how long the job waits before it runs again.
	After time.Duration
}

// Error implements error.
func (e *SnoozeError) Error() string { return fmt.Sprintf("snoozed for %v", e.After) }

// Snooze returns an error that, returned by a task, is not a failure: the
// job is scheduled to run again after d (at once when d is 0 or less), and
// the run spends no attempt and no retry, so the next run sees the same
// attempt number as this one (River's JobSnooze). The job's history records
// a Scheduled (or Enqueued) entry whose reason is the returned error's
// text, so wrap it to say why:
//
//	return fmt.Errorf("rate limited by the mail API: %w", taskflow.Snooze(time.Minute))
//
// A snooze is never counted, so a task that always snoozes never ends; the
// task decides when to stop (say, from a counter in its arguments or a
// deadline of its own).
func Snooze(d time.Duration) error { return &SnoozeError{After: max(d, 0)} }

// SnoozeWhen says which errors of a task are not failures (Asynq's
// IsFailure): when fn reports true for the error an attempt returns, the
// job runs again after the delay fn returns, spending no attempt and no
// retry, as if the task had returned [Snooze]. Use it for an error the job
// can do nothing about but wait, such as an upstream's "too many requests":
//
//	taskflow.SnoozeWhen(func(err error) (time.Duration, bool) {
//		var limited *api.RateLimitError
//		if errors.As(err, &limited) {
//			return limited.RetryAfter, true
//		}
//		return 0, false
//	})
//
// The history's reason names the delay and the error. fn is not called for
// a panic, a timeout of the job, or an error that is already a snooze.
func SnoozeWhen(fn func(err error) (after time.Duration, ok bool)) PolicyOption {
	return PolicyOption{func(s *taskSettings) {
		if fn == nil {
			s.fail(fmt.Errorf("%w: SnoozeWhen(nil)", ErrInvalidOption))
		}
		s.snoozeWhen = fn
	}}
}

// snoozed reports whether err, returned by an attempt of a task run by e,
// snoozes its job, how long for, and the reason to record.
func snoozed(e *entry, err error) (time.Duration, string, bool) {
	if err == nil {
		return 0, "", false
	}
	var s *SnoozeError
	if errors.As(err, &s) {
		return s.After, truncate(err.Error(), 200), true
	}
	if e.opts.snoozeWhen == nil || errors.Is(err, ErrPanic) || errors.Is(err, context.DeadlineExceeded) {
		return 0, "", false
	}
	if d, ok := e.opts.snoozeWhen(err); ok {
		d = max(d, 0)
		return d, truncate(fmt.Sprintf("snoozed for %v: %v", d, err), 200), true
	}
	return 0, "", false
}
