package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/codectest"
	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// runWorkerFlow runs a worker on s and takes jobs through it with the
// public API: a typed result, a continuation fed by it, a batch, a delayed
// job and a unique job.
func runWorkerFlow(t *testing.T, s storage.Store) {
	reg := taskflow.NewRegistry()
	shout, err := taskflow.RegisterTask(reg, "shout", func(_ context.Context, v string) (string, error) { return strings.ToUpper(v), nil })
	require.NoError(t, err)
	count, err := taskflow.RegisterTask(reg, "count", func(_ context.Context, v string) (int, error) { return len(v), nil })
	require.NoError(t, err)
	client := rig.Start(t, s, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Concurrency: 8}}).Client

	wait := testCtx(t)
	h, err := shout.On(client).Enqueue(wait, "hello")
	require.NoError(t, err)
	n, err := taskflow.Then(wait, h, count)
	require.NoError(t, err)
	batch, err := shout.On(client).EnqueueBatch(wait, []string{"a", "b", "c"})
	require.NoError(t, err)
	start := time.Now()
	later, err := shout.On(client).Enqueue(wait, "later", taskflow.Delay(300*time.Millisecond))
	require.NoError(t, err)
	u1, err := shout.On(client).Enqueue(wait, "once", taskflow.Unique("k"), taskflow.Delay(time.Second))
	require.NoError(t, err)
	u2, err := shout.On(client).Enqueue(wait, "twice", taskflow.Unique("k"))
	require.NoError(t, err)
	require.Equal(t, u1.ID, u2.ID, "a held unique key stored a second job")

	got, err := h.Wait(wait)
	require.NoError(t, err)
	require.Equal(t, "HELLO", got)
	length, err := n.Wait(wait)
	require.NoError(t, err)
	require.Equal(t, 5, length)
	all, err := batch.Wait(wait)
	require.NoError(t, err)
	require.Equal(t, []string{"A", "B", "C"}, all)
	v, err := later.Wait(wait)
	require.NoError(t, err)
	require.Equal(t, "LATER", v)
	require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	v, err = u2.Wait(wait)
	require.NoError(t, err)
	require.Equal(t, "ONCE", v)
}

// TestWorkerFlow runs the flow features end to end on a single server.
func TestWorkerFlow(t *testing.T) {
	runWorkerFlow(t, newStore(t, testClient(t)))
}

// TestCodecEndToEnd runs tasks with a non-JSON codec (see package
// codectest), on one store and on a sharded one.
func TestCodecEndToEnd(t *testing.T) {
	client := testClient(t)
	t.Run("Plain", func(t *testing.T) { codectest.Run(t, newStore(t, client)) })
	t.Run("Sharded", func(t *testing.T) { codectest.Run(t, newShardedStore(t, client, 3)) })
}
