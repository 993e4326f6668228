package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

func TestPackedDataRoundTrips(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	var tests []string
	for _, st := range []states.State{
		states.Enqueued{Queue: "default", EnqueuedAt: at, Reason: "created"},
		states.Scheduled{EnqueueAt: at, ScheduledAt: at, Reason: "retry 1 of 10"},
		states.Awaiting{ParentID: "01a22fab-2fc0-7a98-8a3e-376367ffd001", On: states.OnFailure},
		states.Processing{StartedAt: at, ServerID: "vm:1:abc"},
		states.Succeeded{SucceededAt: at, Result: []byte(`{"a":[1,2]}`), Latency: time.Second, Duration: time.Millisecond, Reason: "ok"},
		states.Failed{FailedAt: at, ErrorType: "E", ErrorMessage: "boom \"quoted\"", ErrorDetails: "stack\n\tline", ServerID: "s", Reason: "r"},
		states.Deleted{DeletedAt: at, ErrorMessage: "m", Reason: "r"},
	} {
		b, err := states.Marshal(st)
		require.NoError(t, err)
		tests = append(tests, string(b))
	}
	tests = append(tests, "", "{}", `{"queue":"{\"queue\":"}`, "raw \x01 control", "\x1estarts with the mark", "sep \x1f inside", "tab\tnewline\n")
	for _, data := range tests {
		packed := packData([]byte(data))
		require.Equal(t, data, string(unpackData(packed)), "packed as %q", packed)
	}
	enq, err := states.Marshal(states.Enqueued{Queue: "default", EnqueuedAt: at})
	require.NoError(t, err)
	require.Less(t, len(packData(enq)), len(enq)-20, "the Enqueued state packs to %q", packData(enq))
}

func TestHistoryEntryKeepsItsPartsApart(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	e := historyEntry(storage.StateRecord{State: states.NameFailed, At: at, Reason: "odd\x1freason", Data: []byte("data\x1fwith a separator")})
	kv := []string{"id", "01a22fab-2fc0-7a98-8a3e-376367ffd001", "s", "failed", "h1", e}
	j, err := decodeJob(kv, true)
	require.NoError(t, err)
	require.Len(t, j.History, 1)
	require.Equal(t, "odd reason", j.History[0].Reason)
	require.Equal(t, "data\x1fwith a separator", string(j.History[0].Data))
	require.True(t, at.Equal(j.History[0].At))
	require.True(t, at.Equal(j.CreatedAt))
}

// History entries are written short and read back, and entries written as
// state names and decimal microseconds are read as well.
func TestHistoryEntryStateAndTime(t *testing.T) {
	at := time.Date(2026, 12, 1, 4, 27, 21, 160544000, time.UTC)
	tests := []struct {
		name, entry string
		want        storage.StateRecord
	}{
		{"Short", historyEntry(storage.StateRecord{State: states.NameSucceeded, At: at, Data: []byte(`{}`)}),
			storage.StateRecord{State: states.NameSucceeded, At: at, Data: []byte(`{}`)}},
		{"Long", "processing\x1f1796099241160544\x1freason\x1f{}",
			storage.StateRecord{State: states.NameProcessing, At: time.UnixMicro(1796099241160544).UTC(), Reason: "reason", Data: []byte(`{}`)}},
		{"UnknownState", historyEntry(storage.StateRecord{State: "custom", At: time.UnixMicro(0)}),
			storage.StateRecord{State: "custom", At: time.UnixMicro(0).UTC(), Data: []byte{}}},
		{"Before1970", historyEntry(storage.StateRecord{State: states.NameFailed, At: time.UnixMicro(-5)}),
			storage.StateRecord{State: states.NameFailed, At: time.UnixMicro(-5).UTC(), Data: []byte{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j, err := decodeJob([]string{"id", "01a22fab-2fc0-7a98-8a3e-376367ffd001", "s", "x", "h1", tc.entry}, true)
			require.NoError(t, err)
			require.Len(t, j.History, 1)
			got := j.History[0]
			require.Equal(t, tc.want.State, got.State)
			require.True(t, tc.want.At.Equal(got.At), "at %v, want %v", got.At, tc.want.At)
			require.Equal(t, tc.want.Reason, got.Reason)
			require.Equal(t, string(tc.want.Data), string(got.Data))
		})
	}
	require.Len(t, entryTime(at), 9)
	require.Len(t, strings.SplitN(historyEntry(storage.StateRecord{State: states.NameEnqueued, At: at}), sep, 4)[0], 1)
}

func TestReasonOfCreatedJobs(t *testing.T) {
	tests := []struct {
		name  string
		state states.Name
		data  string
		want  string
	}{
		{"no reason", states.NameEnqueued, `{"queue":"default"}`, ""},
		{"a reason", states.NameEnqueued, `{"queue":"default","reason":"retry"}`, "retry"},
		{"an escaped key", states.NameScheduled, `{"enqueue_at":"2026-01-01T00:00:00Z","\u0072eason":"later"}`, "later"},
		{"the word elsewhere", states.NameEnqueued, `{"queue":"reason"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r storage.Reasons
			require.Equal(t, tt.want, reasonOf(&r, tt.state, []byte(tt.data)))
		})
	}
}
