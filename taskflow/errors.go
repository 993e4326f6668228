package taskflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

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

// PanicError is the error of an attempt whose task panicked. It matches
// ErrPanic with errors.Is, and unwraps to the panic value when that is an
// error.
type PanicError struct {
	// Value is the value the task panicked with.
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("%v: %v", ErrPanic, e.Value) }

// Is matches ErrPanic.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// ErrorCode returns "taskflow.panic".
func (e *PanicError) ErrorCode() string { return "taskflow.panic" }

// timeoutError is the error of an attempt that ran past its timeout.
type timeoutError struct {
	limit time.Duration
	err   error // what the task returned
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("%v: it ran past its Timeout of %v: %v", ErrTimeout, e.limit, e.err)
}
func (e *timeoutError) Unwrap() error        { return e.err }
func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }
func (e *timeoutError) ErrorCode() string    { return "taskflow.timeout" }

// RegisterError registers err, a sentinel error, under code, and returns
// err, so that a sentinel is declared and registered in one line:
//
//	var ErrQuota = taskflow.RegisterError("billing.quota", errors.New("quota exceeded"))
//
// An attempt whose error matches err (errors.Is) records code in its Failed
// state, and the *JobError of a job that failed so matches err with
// errors.Is, in every process that registered it (the producer's and the
// worker's). Register errors at start-up, in the package both import. It
// panics if code is empty or already registered.
func RegisterError(code string, err error) error {
	if err == nil {
		panic("taskflow: RegisterError(" + code + ", nil)")
	}
	registeredErrors.add(&registeredError{code: code, sentinel: err, match: func(e error) (json.RawMessage, bool) {
		return nil, errors.Is(e, err)
	}})
	return err
}

// RegisterErrorType registers the error type E under code: an attempt
// whose error is an E (errors.As) records code and the E, encoded as JSON,
// in its Failed state, and errors.As on the *JobError of a job that failed
// so sets an E decoded from it. Only what JSON encodes of an E survives:
// give it exported fields. It panics if code is empty or already
// registered.
func RegisterErrorType[E error](code string) {
	registeredErrors.add(&registeredError{
		code: code,
		typ:  reflect.TypeFor[E](),
		match: func(err error) (json.RawMessage, bool) {
			var e E
			if !errors.As(err, &e) {
				return nil, false
			}
			raw, jerr := json.Marshal(e)
			if jerr != nil {
				return nil, true // matched, with no value to give back
			}
			return raw, true
		},
		as: func(target any, raw json.RawMessage) bool {
			t, ok := target.(*E)
			if !ok {
				return false
			}
			var e E
			if typ := reflect.TypeFor[E](); typ.Kind() == reflect.Pointer {
				e = reflect.New(typ.Elem()).Interface().(E)
			}
			if len(raw) > 0 {
				_ = json.Unmarshal(raw, &e) // what does not decode stays zero
			}
			*t = e
			return true
		},
	})
}

// registeredError is an error registered under a code.
type registeredError struct {
	code     string
	sentinel error        // for RegisterError
	typ      reflect.Type // for RegisterErrorType
	match    func(err error) (json.RawMessage, bool)
	as       func(target any, raw json.RawMessage) bool
}

// errorRegistry holds the registered errors, taskflow's own first.
type errorRegistry struct {
	mu   sync.RWMutex
	list []*registeredError
}

var registeredErrors = &errorRegistry{}

func init() {
	for _, r := range []struct {
		code string
		err  error
	}{
		{"taskflow.panic", ErrPanic},
		{"taskflow.timeout", ErrTimeout},
		{"taskflow.permanent", filters.ErrPermanent},
		{"taskflow.bad_input", filters.ErrBadInput},
		{"context.deadline_exceeded", context.DeadlineExceeded},
	} {
		RegisterError(r.code, r.err)
	}
}

func (reg *errorRegistry) add(r *registeredError) {
	if r.code == "" {
		panic("taskflow: an error registered with an empty code")
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for _, o := range reg.list {
		if o.code == r.code {
			panic(fmt.Sprintf("taskflow: error code %q registered twice", r.code))
		}
	}
	reg.list = append(reg.list, r)
}

func (reg *errorRegistry) byCode(code string) *registeredError {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	for _, r := range reg.list {
		if r.code == code {
			return r
		}
	}
	return nil
}

// codeOf returns the code err is registered under, as a sentinel or by its
// type.
func (reg *errorRegistry) codeOf(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	typ := reflect.TypeOf(err)
	comparable := typ.Comparable() // == panics on two values of one uncomparable type
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	for _, r := range reg.list {
		if comparable && r.sentinel == err || r.typ != nil && r.typ == typ {
			return r.code, true
		}
	}
	return "", false
}

// matches returns the registered errors err matches.
func (reg *errorRegistry) matches(err error) []states.ErrorMatch {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	var out []states.ErrorMatch
	for _, r := range reg.list {
		if v, ok := r.match(err); ok {
			out = append(out, states.ErrorMatch{Code: r.code, Value: v})
		}
	}
	return out
}

// maxErrorChain bounds the links of an error chain that a Failed state
// records, and maxLinkMessage the bytes of each link's message.
const (
	maxErrorChain  = 16
	maxLinkMessage = 500
)

// failure describes err, the error of an attempt that ended at at on
// worker worker, as a Failed state; details holds a panic's stack.
func failure(err error, details string, at time.Time, worker string) states.Failed {
	msg := err.Error()
	f := states.Failed{
		FailedAt: at, ErrorMessage: msg, ErrorDetails: details, ServerID: worker, Reason: truncate(msg, 200),
		ErrorMatches: registeredErrors.matches(err),
	}
	var walk func(e error)
	walk = func(e error) {
		if e == nil || len(f.ErrorChain) == maxErrorChain {
			return
		}
		name := fmt.Sprintf("%T", e)
		f.ErrorChain = append(f.ErrorChain, states.ErrorLink{Type: name, Message: truncate(e.Error(), maxLinkMessage)})
		if p, ok := e.(*PanicError); ok && f.ErrorType == "" {
			f.ErrorType = fmt.Sprintf("%T", p.Value)
		}
		if f.ErrorType == "" && !wrapperTypes[name] {
			f.ErrorType = name
		}
		if c, ok := e.(interface{ ErrorCode() string }); ok && f.ErrorCode == "" {
			f.ErrorCode = c.ErrorCode()
		}
		if code, ok := registeredErrors.codeOf(e); ok && f.ErrorCode == "" {
			f.ErrorCode = code
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		}
	}
	walk(err)
	return f
}

// wrapperTypes are the error types that only carry text or wrap another
// error: the type a Failed state records is the outermost one not among
// them.
var wrapperTypes = map[string]bool{
	"*errors.errorString": true, "*fmt.wrapError": true, "*fmt.wrapErrors": true, "*errors.joinError": true,
	"*filters.permanentError": true, "*taskflow.badInputError": true, "*taskflow.timeoutError": true,
	"*taskflow.PanicError": true,
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
