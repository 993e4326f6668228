package integrationtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/pgtest"
	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
)

// TestTraceContextTravelsThroughTheDatabase: a client and a worker that
// share only the database (each its own pool and tracing filter); the
// attempt's span is a child of the enqueue's span.
func TestTraceContextTravelsThroughTheDatabase(t *testing.T) {
	ctx := testCtx(t)
	pool := pgtest.Pool(t)
	schema := pgtest.Schema(t, pool)
	require.NoError(t, pgstore.Migrate(ctx, pool, pgstore.Schema(schema)))
	s := pgstore.New(pool, pgstore.Schema(schema))
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "traced", func(_ context.Context, n int) (int, error) { return n, nil })
	require.NoError(t, err)
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{Filters: []filters.Filter{taskflowotel.New(taskflowotel.Options{TracerProvider: tp})}})
	require.NoError(t, err)
	workerStore := pgstore.New(pgtest.Pool(t), pgstore.Schema(schema)) // its own pool, as another process has
	rig.Start(t, workerStore, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg,
		Filters: []filters.Filter{taskflowotel.New(taskflowotel.Options{TracerProvider: tp})}}})

	h, err := task.On(client).Enqueue(ctx, 1)
	require.NoError(t, err)
	_, err = h.Wait(ctx)
	require.NoError(t, err)
	var enq, proc sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, sp := range rec.Ended() {
			switch sp.Name() {
			case "enqueue traced":
				enq = sp
			case "process traced":
				proc = sp
			}
		}
		return enq != nil && proc != nil
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, enq.SpanContext().TraceID(), proc.SpanContext().TraceID())
	require.Equal(t, enq.SpanContext().SpanID(), proc.Parent().SpanID())
}

// testCtx is a context that ends with the test, or after 20 seconds.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
