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
		name  string
		state states.State
		final bool
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
			require.Equal(t, tt.final, got.IsFinal())
			require.Equal(t, tt.final, tt.state.Name().IsFinal())
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
		{"SucceededSpacedResult", states.Succeeded{SucceededAt: at, Result: json.RawMessage(`{ "id" : 1 }`)}},
		{"SucceededEscapedResult", states.Succeeded{SucceededAt: at, Result: json.RawMessage(`"<tag> \"q\" \\"`)}},
		{"FarFuture", states.Processing{StartedAt: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, wantErr := json.Marshal(tt.state)
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

func TestMarshalRejectsInvalidResult(t *testing.T) {
	t.Parallel()
	_, err := states.Marshal(states.Succeeded{Result: json.RawMessage(`{not json`)})
	require.Error(t, err)
}
