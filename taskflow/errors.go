package taskflow

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Sentinel errors; test for them with errors.Is.
var (
	// ErrInvalidName means a task name is empty, too long or has characters
	// other than letters, digits and . _ : / -.
	ErrInvalidName = errors.New("taskflow: invalid task name")
	// ErrDuplicateTask means a registry already holds a task of that name.
	ErrDuplicateTask = errors.New("taskflow: duplicate task name")
	// ErrUnknownTask means a stored job names a task the worker does not
	// know; the job is scheduled again for a worker that does, and its
	// reason starts with this error's text.
	ErrUnknownTask = errors.New("taskflow: unknown task")
	// ErrInvalidQueue means a queue name does not match [a-z0-9_-]+.
	ErrInvalidQueue = errors.New("taskflow: invalid queue name")
	// ErrInvalidOption means an option does not apply where it was given.
	ErrInvalidOption = errors.New("taskflow: invalid option")
	// ErrEncode means arguments or a result could not be encoded.
	ErrEncode = errors.New("taskflow: encode")
	// ErrDecode means stored arguments or a result could not be decoded.
	ErrDecode = errors.New("taskflow: decode")
	// ErrCanceled means a client filter canceled the creation of a job.
	ErrCanceled = errors.New("taskflow: creation canceled")
	// ErrNotConfigured means the default client is used before Configure.
	ErrNotConfigured = errors.New("taskflow: no default client; call taskflow.Configure")
	// ErrNotSucceeded means a job has not succeeded (yet), so it has no result.
	ErrNotSucceeded = errors.New("taskflow: job has not succeeded")
	// ErrJobFailed means a job failed for good: its retries are used up or
	// its error was not retryable. Wait returns a *JobError matching it.
	ErrJobFailed = errors.New("taskflow: job failed")
	// ErrJobDeleted means a job was deleted before it succeeded.
	ErrJobDeleted = errors.New("taskflow: job deleted")
	// ErrPanic means a task panicked; the panic value and stack are in the
	// Failed state. The attempt's error is a *PanicError.
	ErrPanic = errors.New("taskflow: task panicked")
	// ErrTimeout means an attempt ran past its Timeout; the error names the
	// limit.
	ErrTimeout = errors.New("taskflow: attempt timed out")
)

// Errors of the store, as taskflow's calls return them (wrapped); they are
// the storage package's sentinels, so a program never imports storage to
// test for them.
var (
	// ErrNotFound means no job, batch or recurring definition has the
	// given ID.
	ErrNotFound = storage.ErrNotFound
	// ErrStateConflict means a job was not in a state the call expected:
	// it moved on meanwhile, or ChangeState's from did not hold.
	ErrStateConflict = storage.ErrStateConflict
	// ErrNotSupported means the store lacks what the call needs (recurring
	// definitions, batch progress, ...); the error names it.
	ErrNotSupported = storage.ErrNotSupported
)

// Causes of a running attempt's cancellation, as context.Cause returns
// them (wrapped, with the job and attempt named). An attempt whose job was
// taken from it has its context cancelled within about a heartbeat, and its
// outcome is discarded: the job's new state stands. ErrJobDeleted, above,
// is the cause when the job was deleted.
var (
	// ErrJobRequeued means the job was requeued while the attempt ran.
	ErrJobRequeued = errors.New("taskflow: job requeued")
	// ErrJobRescheduled means the job was rescheduled while the attempt ran.
	ErrJobRescheduled = errors.New("taskflow: job rescheduled")
	// ErrJobStateChanged means the job was moved to another state (say,
	// Failed or Succeeded by ChangeState) while the attempt ran.
	ErrJobStateChanged = errors.New("taskflow: job moved to another state")
	// ErrLeaseLost means the attempt's lease expired before it was renewed
	// (the worker could not reach the store, or was taken for dead), so the
	// job was returned to its queue. It is storage.ErrLeaseLost, the error
	// a store returns for an outcome under a lost lease.
	ErrLeaseLost = storage.ErrLeaseLost
	// ErrWorkerStopped means the worker stopped and its ShutdownTimeout
	// passed; the job is requeued.
	ErrWorkerStopped = errors.New("taskflow: worker stopped")
)

// JobError reports that a job ended without success. It matches
// ErrJobFailed or ErrJobDeleted with errors.Is. A job that failed also
// matches what its task's error matched among the registered errors
// (RegisterError, RegisterErrorType, and taskflow's own: ErrPanic,
// ErrTimeout, context.DeadlineExceeded, filters.ErrPermanent and
// filters.ErrBadInput), with errors.Is and errors.As.
type JobError struct {
	ID    uuid.UUID
	Task  string
	State states.State // states.Failed or states.Deleted
}

func (e *JobError) Error() string {
	switch s := e.State.(type) {
	case states.Failed:
		return fmt.Sprintf("taskflow: job %s (%s) failed: %s", e.ID, e.Task, s.ErrorMessage)
	case states.Deleted:
		msg := s.Reason
		if s.ErrorMessage != "" {
			msg += ": " + s.ErrorMessage
		}
		return fmt.Sprintf("taskflow: job %s (%s) deleted: %s", e.ID, e.Task, msg)
	}
	return fmt.Sprintf("taskflow: job %s (%s) is %s", e.ID, e.Task, e.State.Name())
}

// Code returns the machine-readable code of the error the job failed with
// (see states.Failed.ErrorCode), or "".
func (e *JobError) Code() string {
	code, _ := e.failure()
	return code
}

// failure returns the code and the registered errors of the failure that
// ended the job: Failed, or Deleted by the retry policy once it failed.
func (e *JobError) failure() (string, []states.ErrorMatch) {
	switch s := e.State.(type) {
	case states.Failed:
		return s.ErrorCode, s.ErrorMatches
	case states.Deleted:
		return s.ErrorCode, s.ErrorMatches
	}
	return "", nil
}

// Is matches ErrJobFailed or ErrJobDeleted by the state the job ended in,
// and the registered errors the task's error matched.
func (e *JobError) Is(target error) bool {
	switch e.State.(type) {
	case states.Failed:
		if target == ErrJobFailed {
			return true
		}
	case states.Deleted:
		if target == ErrJobDeleted {
			return true
		}
	}
	code, ok := registeredErrors.codeOf(target)
	_, matches := e.failure()
	return ok && slices.ContainsFunc(matches, func(m states.ErrorMatch) bool { return m.Code == code })
}

// As sets target, a pointer to a registered error type (RegisterErrorType),
// to the task's error of that type, decoded from the Failed state.
func (e *JobError) As(target any) bool {
	_, matches := e.failure()
	for _, m := range matches {
		if r := registeredErrors.byCode(m.Code); r != nil && r.as != nil && r.as(target, m.Value) {
			return true
		}
	}
	return false
}

// jobError wraps err, from op on job id, naming the job unless err does
// already (the stores name the job in their errors), so that a chain of
// errors names the job once.
func jobError(op string, id uuid.UUID, err error) error {
	if strings.Contains(err.Error(), id.String()) {
		return fmt.Errorf("taskflow: %s: %w", op, err)
	}
	return fmt.Errorf("taskflow: %s job %s: %w", op, id, err)
}

// badInput marks err as bad input (filters.ErrBadInput): the job stays
// Failed, never retried nor deleted by the retry policy.
func badInput(err error) error { return &badInputError{err} }

type badInputError struct{ err error }

func (e *badInputError) Error() string { return e.err.Error() }
func (e *badInputError) Unwrap() error { return e.err }
func (e *badInputError) Is(target error) bool {
	return target == filters.ErrBadInput || target == filters.ErrPermanent
}
