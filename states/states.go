package states

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Name identifies a state. It is the persisted form: stores keep it as text.
type Name string

// The names of the built-in states.
const (
	NameEnqueued   Name = "enqueued"
	NameScheduled  Name = "scheduled"
	NameAwaiting   Name = "awaiting"
	NameProcessing Name = "processing"
	NameSucceeded  Name = "succeeded"
	NameFailed     Name = "failed"
	NameDeleted    Name = "deleted"
)

// Names lists every state name, in lifecycle order.
var Names = []Name{NameEnqueued, NameScheduled, NameAwaiting, NameProcessing, NameSucceeded, NameFailed, NameDeleted}

// Finished reports whether a job in state n has finished: Succeeded,
// Failed (no retry planned) or Deleted. A finished job runs no more unless
// a person requeues it; its continuations resolve, and its batch counts it
// done.
func (n Name) Finished() bool {
	return n == NameSucceeded || n == NameFailed || n == NameDeleted
}

// Expires reports whether a job in state n is removed once its retention
// passes: Succeeded and Deleted jobs are; a Failed job stays until a person
// requeues or deletes it.
func (n Name) Expires() bool { return n == NameSucceeded || n == NameDeleted }

// Valid reports whether n names one of the built-in states.
func (n Name) Valid() bool {
	for _, v := range Names {
		if v == n {
			return true
		}
	}
	return false
}

// ErrUnknownState is returned by [Unmarshal] for a name that is not one of
// the built-in states.
var ErrUnknownState = errors.New("states: unknown state")

// State is a job state. The interface is sealed: the types in this package
// are its only implementations, so a type switch over them is exhaustive.
type State interface {
	// Name returns the state's persisted name.
	Name() Name
	// Why returns the human-readable reason recorded with the state, if any.
	Why() string
	sealed()
}

// Enqueued means the job waits in Queue for a worker.
type Enqueued struct {
	Queue      string    `json:"queue"`
	EnqueuedAt time.Time `json:"enqueued_at"`
	Reason     string    `json:"reason,omitempty"`
}

// Scheduled means the job is enqueued at EnqueueAt (a delayed job or a retry).
type Scheduled struct {
	EnqueueAt   time.Time `json:"enqueue_at"`
	ScheduledAt time.Time `json:"scheduled_at"`
	Reason      string    `json:"reason,omitempty"`
}

// Condition is a continuation condition of an [Awaiting] job: which
// outcomes of its parent let it run. It is stored as text.
type Condition string

// The continuation conditions.
const (
	OnSuccess Condition = "success" // parent Succeeded (the default)
	OnFinish  Condition = "finish"  // parent Succeeded, Deleted, or Failed for good
	OnFailure Condition = "failure" // parent Failed for good or Deleted
)

// Valid reports whether c is one of the conditions; the empty condition,
// stored by older releases, is OnSuccess.
func (c Condition) Valid() bool {
	switch c {
	case "", OnSuccess, OnFinish, OnFailure:
		return true
	}
	return false
}

// Holds reports whether a continuation with condition c runs when its
// parent finished with success (for a batch: every job of it succeeded).
func (c Condition) Holds(success bool) bool {
	switch c {
	case OnFinish:
		return true
	case OnFailure:
		return !success
	default:
		return success
	}
}

// Awaiting means the job waits for its parent job to finish.
type Awaiting struct {
	ParentID string `json:"parent_id"`
	// On is the continuation condition: OnSuccess, OnFinish or OnFailure.
	On Condition `json:"on,omitempty"`
	// ArgsFromResult makes the parent's result the job's arguments: when
	// the store resolves the job after its parent (a job) Succeeded, it
	// copies the parent's Succeeded.Result into the job's arguments in the
	// same atomic step.
	ArgsFromResult bool   `json:"args_from_result,omitempty"`
	Reason         string `json:"reason,omitempty"`
}

// Processing means a worker runs the job.
type Processing struct {
	StartedAt time.Time `json:"started_at"`
	ServerID  string    `json:"server_id"`
	Reason    string    `json:"reason,omitempty"`
}

// Succeeded means the job ran to completion. Result holds the encoded result.
type Succeeded struct {
	SucceededAt time.Time `json:"succeeded_at"`
	// Result is the encoded result, opaque bytes in the task's codec: any
	// bytes survive the stored form (see [Succeeded.MarshalJSON]).
	Result []byte `json:"-"`
	// Latency is the time from creation to the start of the successful attempt.
	Latency time.Duration `json:"latency"`
	// Duration is how long the successful attempt ran.
	Duration time.Duration `json:"duration"`
	Reason   string        `json:"reason,omitempty"`
}

// succeededJSON is the stored form of Succeeded: a result that is compact
// JSON, as the JSON codec writes it, is kept as it is under "result", so
// that it stays readable from SQL or redis-cli; any other result is kept in
// base64 under "result_bytes".
type succeededJSON struct {
	SucceededAt time.Time       `json:"succeeded_at"`
	Result      json.RawMessage `json:"result,omitempty"`
	ResultBytes []byte          `json:"result_bytes,omitempty"`
	Latency     time.Duration   `json:"latency"`
	Duration    time.Duration   `json:"duration"`
	Reason      string          `json:"reason,omitempty"`
}

// MarshalJSON writes the result as JSON when it is compact JSON that
// encoding/json copies unchanged, and in base64 otherwise, so that the
// bytes read back are the bytes written.
func (s Succeeded) MarshalJSON() ([]byte, error) {
	if b, ok := appendFast(s); ok {
		return b, nil
	}
	w := succeededJSON{SucceededAt: s.SucceededAt, Latency: s.Latency, Duration: s.Duration, Reason: s.Reason}
	if asJSON(s.Result) {
		w.Result = s.Result
	} else {
		w.ResultBytes = s.Result
	}
	return json.Marshal(w)
}

// asJSON reports whether encoding/json writes result as it is.
func asJSON(result []byte) bool {
	if !json.Valid(result) {
		return false
	}
	b, err := json.Marshal(json.RawMessage(result))
	return err == nil && bytes.Equal(b, result)
}

// UnmarshalJSON reads both forms MarshalJSON writes.
func (s *Succeeded) UnmarshalJSON(data []byte) error {
	var w succeededJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Succeeded{SucceededAt: w.SucceededAt, Result: w.ResultBytes, Latency: w.Latency, Duration: w.Duration, Reason: w.Reason}
	if len(w.Result) > 0 {
		s.Result = w.Result
	}
	return nil
}

// Failed means an attempt failed and no retry is planned.
type Failed struct {
	FailedAt time.Time `json:"failed_at"`
	// ErrorType is the Go type of the error: the outermost one in its chain
	// that is more than a wrapper adding text (fmt.Errorf, errors.New,
	// errors.Join and taskflow's markers are not), or the type of the
	// value of a panic. Empty when the chain holds only such wrappers.
	ErrorType    string `json:"error_type,omitempty"`
	ErrorMessage string `json:"error_message"`
	// ErrorCode is the error's machine-readable code: that of the
	// outermost error in its chain with an ErrorCode() string method, or
	// registered under a code (taskflow.RegisterError).
	ErrorCode string `json:"error_code,omitempty"`
	// ErrorChain lists the errors the error wraps, itself first, depth
	// first through joined errors, with their types and messages.
	ErrorChain []ErrorLink `json:"error_chain,omitempty"`
	// ErrorMatches lists the registered errors (taskflow.RegisterError,
	// taskflow.RegisterErrorType) the error matched with errors.Is or
	// errors.As, so that the producer's error matches them too.
	ErrorMatches []ErrorMatch `json:"error_matches,omitempty"`
	// ErrorDetails holds extra detail, such as the stack of a panic.
	ErrorDetails string `json:"error_details,omitempty"`
	ServerID     string `json:"server_id,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// ErrorLink is one error of a [Failed] state's chain.
type ErrorLink struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorMatch is a registered error that a [Failed] state's error matched:
// its code and, for a registered type, the matching error encoded as JSON.
type ErrorMatch struct {
	Code  string          `json:"code"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Deleted means the job was removed by a person, a filter or a policy.
type Deleted struct {
	DeletedAt time.Time `json:"deleted_at"`
	// ErrorMessage, ErrorCode and ErrorMatches are those of the failure
	// that had the job deleted, if one did (see [Failed]).
	ErrorMessage string       `json:"error_message,omitempty"`
	ErrorCode    string       `json:"error_code,omitempty"`
	ErrorMatches []ErrorMatch `json:"error_matches,omitempty"`
	Reason       string       `json:"reason,omitempty"`
}

func (Enqueued) Name() Name   { return NameEnqueued }
func (Scheduled) Name() Name  { return NameScheduled }
func (Awaiting) Name() Name   { return NameAwaiting }
func (Processing) Name() Name { return NameProcessing }
func (Succeeded) Name() Name  { return NameSucceeded }
func (Failed) Name() Name     { return NameFailed }
func (Deleted) Name() Name    { return NameDeleted }

func (s Enqueued) Why() string   { return s.Reason }
func (s Scheduled) Why() string  { return s.Reason }
func (s Awaiting) Why() string   { return s.Reason }
func (s Processing) Why() string { return s.Reason }
func (s Succeeded) Why() string  { return s.Reason }
func (s Failed) Why() string     { return s.Reason }
func (s Deleted) Why() string    { return s.Reason }

func (Enqueued) sealed()   {}
func (Scheduled) sealed()  {}
func (Awaiting) sealed()   {}
func (Processing) sealed() {}
func (Succeeded) sealed()  {}
func (Failed) sealed()     {}
func (Deleted) sealed()    {}

// Marshal encodes the data of s as JSON. The name is stored beside it (see
// [State.Name]); [Unmarshal] needs both.
func Marshal(s State) ([]byte, error) {
	if s == nil {
		return nil, errors.New("states: marshal nil state")
	}
	if b, ok := appendFast(s); ok {
		return b, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("states: marshal %s: %w", s.Name(), err)
	}
	return b, nil
}

// Unmarshal decodes the JSON data of the state called name. Empty data
// yields the zero value of that state. An unknown name returns an error
// wrapping [ErrUnknownState].
func Unmarshal(name Name, data []byte) (State, error) {
	switch name {
	case NameEnqueued:
		return decode[Enqueued](name, data)
	case NameScheduled:
		return decode[Scheduled](name, data)
	case NameAwaiting:
		return decode[Awaiting](name, data)
	case NameProcessing:
		return decode[Processing](name, data)
	case NameSucceeded:
		return decode[Succeeded](name, data)
	case NameFailed:
		return decode[Failed](name, data)
	case NameDeleted:
		return decode[Deleted](name, data)
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownState, name)
}

func decode[S State](name Name, data []byte) (State, error) {
	var s S
	if len(data) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("states: decode %s: %w", name, err)
	}
	return s, nil
}
