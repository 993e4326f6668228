// Package codectest runs tasks whose arguments and results use a codec
// other than JSON on any store, through the public API: a job, a Then
// continuation fed by its result, and a batch. The project's stores run it
// (taskflow on memstore, pgstore, redisstore). It is for contributors, not
// users.
//
// A test rig: only taskflow's own tests import it.
package codectest

import (
	"bytes"
	"context"
	"encoding/gob"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Gob is a taskflow.Codec on encoding/gob: its bytes are not JSON.
type Gob struct{}

// Marshal encodes v with gob.
func (Gob) Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

// Unmarshal decodes gob data into v.
func (Gob) Unmarshal(data []byte, v any) error {
	return gob.NewDecoder(bytes.NewReader(data)).Decode(v)
}

// Order is the argument of the tasks: a struct, so gob writes its type.
type Order struct {
	ID    int
	Items []string
	Note  []byte // raw bytes, the kind JSON cannot keep as they are
}

// Receipt is the result of the tasks.
type Receipt struct {
	OrderID int
	Count   int
	Sum     []byte
}

// Run runs jobs of tasks with the Gob codec on store and checks that every
// result comes back as it was returned, that the stored result is the
// codec's bytes, and that a continuation gets its parent's result.
func Run(t *testing.T, store storage.Store) {
	t.Helper()
	reg := taskflow.NewRegistry()
	receipt, err := taskflow.RegisterTask(reg, "codec.receipt", func(_ context.Context, o Order) (Receipt, error) {
		return Receipt{OrderID: o.ID, Count: len(o.Items), Sum: append([]byte{0xff, 0x00}, o.Note...)}, nil
	}, taskflow.WithCodec(Gob{}))
	require.NoError(t, err)
	audit, err := taskflow.RegisterTask(reg, "codec.audit", func(_ context.Context, r Receipt) ([]byte, error) {
		return append([]byte{0xfe}, r.Sum...), nil
	}, taskflow.WithCodec(Gob{}))
	require.NoError(t, err)
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Registry: reg})
	require.NoError(t, err)
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Concurrency: 4, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-stopped)
	}()
	wait, done := context.WithTimeout(context.Background(), 30*time.Second)
	defer done()

	order := Order{ID: 7, Items: []string{"a", "b"}, Note: []byte{0x0a, 0xff, 0x01}}
	h, err := receipt.On(client).Enqueue(wait, order)
	require.NoError(t, err)
	next, err := taskflow.Then(wait, h, audit)
	require.NoError(t, err)
	batch, err := receipt.On(client).EnqueueBatch(wait, []Order{{ID: 1}, {ID: 2, Items: []string{"x"}, Note: []byte{0x80}}})
	require.NoError(t, err)

	want := Receipt{OrderID: 7, Count: 2, Sum: []byte{0xff, 0x00, 0x0a, 0xff, 0x01}}
	got, err := h.Wait(wait)
	require.NoError(t, err, "a job with a non-JSON result must succeed")
	require.Equal(t, want, got)
	info, err := client.Job(wait, h.ID)
	require.NoError(t, err)
	var stored Receipt
	require.NoError(t, Gob{}.Unmarshal(info.State.(states.Succeeded).Result, &stored), "the stored result is the codec's bytes")
	require.Equal(t, want, stored)

	sum, err := next.Wait(wait)
	require.NoError(t, err, "the continuation decodes its parent's result as its args")
	require.Equal(t, append([]byte{0xfe}, want.Sum...), sum)

	all, err := batch.Wait(wait)
	require.NoError(t, err)
	require.Equal(t, []Receipt{{OrderID: 1, Sum: []byte{0xff, 0x00}}, {OrderID: 2, Count: 1, Sum: []byte{0xff, 0x00, 0x80}}}, all)
}
