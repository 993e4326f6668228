package taskflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
)

// A failed attempt is stored as data (states.Failed): its error's type,
// code, chain and the registered errors it matched, so that the producer's
// *JobError matches what the task's error matched.

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
