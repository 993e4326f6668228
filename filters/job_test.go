package filters_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/storage"
)

// TestJobViewIsReadOnly: a filter reads a job through filters.Job, which
// hands out copies of what it could change, and changes a job only while
// creating it.
func TestJobViewIsReadOnly(t *testing.T) {
	t.Parallel()
	id := uuid.Must(uuid.NewV7())
	j := &storage.Job{ID: id, Task: "t", Queue: "q", Priority: 2, Attempt: 3, LeaseToken: 42,
		Params: map[string]json.RawMessage{"k": json.RawMessage(`1`)}}
	v := filters.NewJob(j)
	require.Equal(t, id, v.ID())
	require.Equal(t, "t", v.Task())
	require.Equal(t, "q", v.Queue())
	require.Equal(t, 2, v.Priority())
	require.Equal(t, 3, v.Attempt())
	p, ok := v.Param("k")
	require.True(t, ok)
	require.JSONEq(t, `1`, string(p))
	v.Params()["k"] = json.RawMessage(`2`)
	require.JSONEq(t, `1`, string(j.Params["k"]), "Params handed out the job's own map")

	var zero filters.Job
	require.Equal(t, uuid.Nil, zero.ID())
	require.Zero(t, zero.Attempt())

	c := filters.NewCreatingContext(j)
	c.SetQueue("other")
	c.SetPriority(9)
	c.SetParam("new", json.RawMessage(`"v"`))
	c.SetParam("k", nil)
	require.Equal(t, "other", j.Queue)
	require.Equal(t, 9, j.Priority)
	require.Equal(t, map[string]json.RawMessage{"new": json.RawMessage(`"v"`)}, j.Params)
	require.Equal(t, "other", c.Job.Queue())
}
