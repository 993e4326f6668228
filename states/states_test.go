package states_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
)

func TestStatesRoundTripThroughJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC)
	tests := []struct {
		name    string
		state   states.State
		expires bool
	}{
		{"Enqueued", states.Enqueued{Queue: "mail", EnqueuedAt: at, Reason: "created"}, false},
		{"Scheduled", states.Scheduled{EnqueueAt: at.Add(time.Hour), ScheduledAt: at, Reason: "retry 1"}, false},
		{"Awaiting", states.Awaiting{ParentID: "0190-parent", On: states.OnFinish, Reason: "continuation"}, false},
		{"Processing", states.Processing{StartedAt: at, ServerID: "host:1"}, false},
		{"Succeeded", states.Succeeded{SucceededAt: at, Result: json.RawMessage(`{"id":42}`), Latency: 3 * time.Millisecond, Duration: time.Second}, true},
		{"Failed", states.Failed{FailedAt: at, ErrorType: "*errors.errorString", ErrorMessage: "boom", ErrorDetails: "stack", ServerID: "host:1", Reason: "boom"}, false},
		{"Deleted", states.Deleted{DeletedAt: at, ErrorMessage: "gone", Reason: "by hand"}, true},
	}
	require.Len(t, tests, len(states.Names), "every state is covered")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := states.Marshal(tt.state)
			require.NoError(t, err)
			got, err := states.Unmarshal(tt.state.Name(), data)
			require.NoError(t, err)
			require.Equal(t, tt.state, got)
			require.Equal(t, tt.expires, tt.state.Name().Expires())
			require.Equal(t, tt.expires || tt.name == "Failed", tt.state.Name().Finished())
			require.True(t, tt.state.Name().Valid())
			require.Equal(t, string(tt.state.Name()), lower(tt.name))
		})
	}
}

func lower(s string) string {
	b := []byte(s)
	if len(b) > 0 && b[0] >= 'A' && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

func TestUnmarshalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		state   states.Name
		data    string
		unknown bool
	}{
		{"UnknownName", "exploded", `{}`, true},
		{"MalformedData", states.NameFailed, `{"failed_at":`, false},
		{"WrongFieldType", states.NameEnqueued, `{"queue":5}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := states.Unmarshal(tt.state, []byte(tt.data))
			require.Error(t, err)
			require.Equal(t, tt.unknown, errors.Is(err, states.ErrUnknownState))
			require.Contains(t, err.Error(), string(tt.state))
		})
	}
}

func TestUnmarshalEmptyDataIsZeroState(t *testing.T) {
	t.Parallel()
	got, err := states.Unmarshal(states.NameDeleted, nil)
	require.NoError(t, err)
	require.Equal(t, states.Deleted{}, got)
}

// TestMarshalMatchesEncodingJSON checks that the hand-written encoders of
// the hot states write exactly what encoding/json writes.
func TestMarshalMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 5, 6, 7, 8, 9, 120000000, time.FixedZone("X", 3600))
	tests := []struct {
		name  string
		state states.State
	}{
		{"Enqueued", states.Enqueued{Queue: "mail", EnqueuedAt: at}},
		{"EnqueuedReason", states.Enqueued{Queue: "mail", EnqueuedAt: at, Reason: "lease expired"}},
		{"EnqueuedEscapes", states.Enqueued{Queue: "q", EnqueuedAt: at, Reason: "a \"quoted\" <b> & ünïcode\n"}},
		{"EnqueuedZeroTime", states.Enqueued{}},
		{"Processing", states.Processing{StartedAt: at, ServerID: "host:12:ab"}},
		{"ProcessingReason", states.Processing{StartedAt: at, ServerID: "h", Reason: "r"}},
		{"Succeeded", states.Succeeded{SucceededAt: at, Result: json.RawMessage(`{"id":1,"s":"x y"}`), Latency: 5, Duration: -3}},
		{"SucceededNoResult", states.Succeeded{SucceededAt: at}},
		{"SucceededNonASCIIResult", states.Succeeded{SucceededAt: at, Result: []byte(`"café"`)}},
		{"FarFuture", states.Processing{StartedAt: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, wantErr := json.Marshal(plain(tt.state))
			got, err := states.Marshal(tt.state)
			if wantErr != nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
}

// plain returns s as encoding/json writes it by its field tags alone: a
// Succeeded state with a JSON result is written so.
func plain(s states.State) any {
	if s, ok := s.(states.Succeeded); ok {
		return struct {
			SucceededAt time.Time       `json:"succeeded_at"`
			Result      json.RawMessage `json:"result,omitempty"`
			Latency     time.Duration   `json:"latency"`
			Duration    time.Duration   `json:"duration"`
			Reason      string          `json:"reason,omitempty"`
		}{s.SucceededAt, s.Result, s.Latency, s.Duration, s.Reason}
	}
	return s
}

// TestSucceededResultIsOpaque checks that any result bytes survive the
// stored form, and that a result that is JSON stays readable in it.
func TestSucceededResultIsOpaque(t *testing.T) {
	t.Parallel()
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name   string
		result []byte
		asJSON bool // stored as the JSON it is, under "result"
	}{
		{"None", nil, true}, // nothing stored
		{"CompactJSON", []byte(`{"id":1,"s":"x y"}`), true},
		{"JSONString", []byte(`"abcd"`), true},
		{"JSONNonASCII", []byte(`"café"`), true},
		{"Binary", []byte{0x0a, 0xff, 0x01}, false},
		{"NotJSONButBase64Alphabet", []byte("abcd"), false},
		{"SpacedJSON", []byte(`{ "id" : 1 }`), false},
		{"JSONThatWouldBeEscaped", []byte(`"<tag> & more"`), false},
		{"InvalidJSON", []byte(`{not json`), false},
		{"Empty", []byte{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := states.Succeeded{SucceededAt: at, Result: tt.result, Latency: 2, Duration: 3}
			data, err := states.Marshal(s)
			require.NoError(t, err)
			got, err := states.Unmarshal(states.NameSucceeded, data)
			require.NoError(t, err)
			require.Equal(t, string(tt.result), string(got.(states.Succeeded).Result))
			var stored map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(data, &stored))
			require.Equal(t, tt.asJSON, string(stored["result"]) == string(tt.result), "stored as %s", data)
		})
	}
}

// TestSucceededReadsResultsStoredAsJSON reads the form results had when
// Result was a json.RawMessage.
func TestSucceededReadsResultsStoredAsJSON(t *testing.T) {
	t.Parallel()
	got, err := states.Unmarshal(states.NameSucceeded, []byte(`{"succeeded_at":"2030-05-06T07:08:09Z","result":{"a":[1,2]},"latency":5,"duration":6}`))
	require.NoError(t, err)
	require.Equal(t, `{"a":[1,2]}`, string(got.(states.Succeeded).Result))
	require.Equal(t, time.Duration(6), got.(states.Succeeded).Duration)
}
