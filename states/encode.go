package states

import (
	"encoding/json"
	"strconv"
	"time"
)

// The states every job passes through are encoded by hand: encoding/json
// spends most of its time on reflection here, and these run once or twice
// per job. The output is byte for byte what encoding/json produces (a test
// checks it), so stored data does not depend on which path wrote it. Values
// the fast path cannot write exactly (strings that need escaping, years
// outside 0..9999, results that are not compact JSON) fall back to encoding/json.

type encoder struct {
	b  []byte
	ok bool
}

func appendFast(s State) ([]byte, bool) {
	e := encoder{b: make([]byte, 0, 128), ok: true}
	switch s := s.(type) {
	case Enqueued:
		e.str(`{"queue":`, s.Queue)
		e.time(`,"enqueued_at":`, s.EnqueuedAt)
		e.reason(s.Reason)
	case Processing:
		e.time(`{"started_at":`, s.StartedAt)
		e.str(`,"server_id":`, s.ServerID)
		e.reason(s.Reason)
	case Succeeded:
		e.time(`{"succeeded_at":`, s.SucceededAt)
		if len(s.Result) > 0 {
			e.ok = e.ok && rawJSON(s.Result)
			e.b = append(append(e.b, `,"result":`...), s.Result...)
		}
		e.b = strconv.AppendInt(append(e.b, `,"latency":`...), int64(s.Latency), 10)
		e.b = strconv.AppendInt(append(e.b, `,"duration":`...), int64(s.Duration), 10)
		e.reason(s.Reason)
	default:
		return nil, false
	}
	return append(e.b, '}'), e.ok
}

func (e *encoder) reason(r string) {
	if r != "" {
		e.str(`,"reason":`, r)
	}
}

// str writes a key and a string value, or gives up on strings that
// encoding/json would escape.
func (e *encoder) str(key, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e.ok = false
			return
		}
	}
	e.b = append(append(e.b, key...), '"')
	e.b = append(append(e.b, s...), '"')
}

func (e *encoder) time(key string, t time.Time) {
	if y := t.Year(); y < 0 || y > 9999 {
		e.ok = false // encoding/json reports an error for these
		return
	}
	e.b = append(append(e.b, key...), '"')
	e.b = append(t.AppendFormat(e.b, time.RFC3339Nano), '"')
}

// rawJSON reports whether a result can be stored as the JSON it is: it is
// valid JSON that encoding/json would copy unchanged.
func rawJSON(b []byte) bool { return len(b) > 0 && compact(b) && json.Valid(b) }

// compact reports whether raw JSON has no insignificant white space and no
// characters encoding/json would escape, so it can be copied as it is.
func compact(raw []byte) bool {
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		case inString && (c == '<' || c == '>' || c == '&' || c >= 0x80):
			return false
		}
	}
	return true
}
