package taskflow_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// A client derived with WithTx creates jobs through the store it is given,
// and keeps the main client's filters, events and registry.
func TestClientWithTxKeepsTheClientsSettings(t *testing.T) {
	t.Parallel()
	main, other := memstore.New(), memstore.New()
	reg := taskflow.NewRegistry()
	double, err := taskflow.RegisterTask(reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	f := &stamp{}
	hub := taskflow.NewEvents()
	sub := hub.Subscribe(10)
	defer sub.Close()
	c, err := taskflow.NewClient(main, taskflow.ClientOptions{Registry: reg, Events: hub, Filters: []filters.Filter{f}})
	require.NoError(t, err)

	d := c.WithTx(other)
	require.Same(t, other, d.Store().(*memstore.Store))
	h, err := double.On(d).Enqueue(context.Background(), 21)
	require.NoError(t, err)
	require.EqualValues(t, 1, f.created.Load(), "the main client's filter ran")
	ev := <-sub.C
	require.Equal(t, taskflow.EventEnqueued, ev.Kind, "the main client's events")
	require.Equal(t, h.ID, ev.JobID)
	j, err := other.Get(context.Background(), h.ID)
	require.NoError(t, err)
	require.JSONEq(t, `true`, string(j.Params["stamped"]))
	_, err = main.Get(context.Background(), h.ID)
	require.Error(t, err, "created in the given store only")
	require.Same(t, main, c.Store().(*memstore.Store), "the main client is unchanged")
}
