package redisstore

import (
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
