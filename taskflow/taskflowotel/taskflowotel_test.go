package taskflowotel_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/rig"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
)

// TestAttemptSpanIsAChildOfTheEnqueueSpan: the trace context travels inside
// the job, from the enqueueing client to the worker, which share only the
// store (and, here, one recorder to read the spans from).
func TestAttemptSpanIsAChildOfTheEnqueueSpan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	store := memstore.New()
	reg := taskflow.NewRegistry()
	taskSpans := make(chan trace.SpanContext, 2)
	task, err := taskflow.RegisterTask(reg, "resize", func(ctx context.Context, n int) (int, error) {
		taskSpans <- trace.SpanContextFromContext(ctx)
		if n < 0 {
			return 0, errors.New("negative size")
		}
		return n, nil
	}, taskflow.MaxRetries(0))
	require.NoError(t, err)

	producer := taskflowotel.New(taskflowotel.Options{TracerProvider: tp})
	consumer := taskflowotel.New(taskflowotel.Options{TracerProvider: tp}) // another process's
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Filters: []filters.Filter{producer}})
	require.NoError(t, err)
	rig.Start(t, store, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Filters: []filters.Filter{consumer}}})

	reqCtx, request := tp.Tracer("test").Start(ctx, "POST /images")
	h, err := task.On(client).Enqueue(reqCtx, 640)
	require.NoError(t, err)
	request.End()
	_, err = h.Wait(ctx)
	require.NoError(t, err)
	failing, err := task.On(client).Enqueue(ctx, -1)
	require.NoError(t, err)
	_, err = failing.Wait(ctx)
	require.Error(t, err)

	spans := map[string][]sdktrace.ReadOnlySpan{}
	require.Eventually(t, func() bool {
		clear(spans)
		for _, s := range rec.Ended() {
			spans[s.Name()] = append(spans[s.Name()], s)
		}
		return len(spans["process resize"]) == 2
	}, 5*time.Second, 10*time.Millisecond)
	require.Len(t, spans["enqueue resize"], 2)
	req := spans["POST /images"][0]
	enq, proc := spans["enqueue resize"][0], spans["process resize"][0]
	require.Equal(t, trace.SpanKindProducer, enq.SpanKind())
	require.Equal(t, trace.SpanKindConsumer, proc.SpanKind())
	require.Equal(t, req.SpanContext().SpanID(), enq.Parent().SpanID(), "the enqueue span is not a child of the request")
	require.Equal(t, enq.SpanContext().TraceID(), proc.SpanContext().TraceID())
	require.Equal(t, enq.SpanContext().SpanID(), proc.Parent().SpanID(), "the attempt's span is not a child of the enqueue's")
	require.True(t, proc.Parent().IsRemote(), "the parent came through the job")
	require.Equal(t, proc.SpanContext().SpanID(), (<-taskSpans).SpanID(), "the task's ctx does not carry the attempt's span")

	attrs := map[string]string{}
	for _, a := range proc.Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	require.Equal(t, "taskflow", attrs["messaging.system"])
	require.Equal(t, "process", attrs["messaging.operation.type"])
	require.Equal(t, "default", attrs["messaging.destination.name"])
	require.Equal(t, h.ID.String(), attrs["messaging.message.id"])
	require.Equal(t, "resize", attrs["taskflow.task"])
	require.Equal(t, "1", attrs["taskflow.attempt"])

	failed := spans["process resize"][1]
	require.Equal(t, "Error", failed.Status().Code.String())
	require.Equal(t, "negative size", failed.Status().Description)
}

// TestContinuationSpansLinkToTheParent: a continuation created in another
// trace links its spans to its parent job's enqueue span.
func TestContinuationSpansLinkToTheParent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	store := memstore.New()
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "step", func(_ context.Context, n int) (int, error) { return n, nil })
	require.NoError(t, err)
	tracing := taskflowotel.New(taskflowotel.Options{TracerProvider: tp, Store: store})
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Filters: []filters.Filter{tracing}})
	require.NoError(t, err)

	parent, err := task.On(client).Enqueue(ctx, 1)
	require.NoError(t, err)
	next, err := task.On(client).ContinueWith(ctx, parent.ID, 2) // a new root span: another trace
	require.NoError(t, err)
	rig.Start(t, store, rig.Options{Worker: taskflow.WorkerOptions{Registry: reg, Filters: []filters.Filter{tracing}}})
	_, err = next.Wait(ctx)
	require.NoError(t, err)

	var enqueues, processes []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		enqueues, processes = nil, nil
		for _, s := range rec.Ended() {
			switch s.SpanKind() {
			case trace.SpanKindProducer:
				enqueues = append(enqueues, s)
			case trace.SpanKindConsumer:
				processes = append(processes, s)
			}
		}
		return len(processes) == 2
	}, 5*time.Second, 10*time.Millisecond)
	parentSpan, nextSpan := enqueues[0], enqueues[1]
	require.NotEqual(t, parentSpan.SpanContext().TraceID(), nextSpan.SpanContext().TraceID())
	require.Empty(t, parentSpan.Links())
	require.Len(t, nextSpan.Links(), 1, "the continuation's enqueue span links to the parent's")
	require.Equal(t, parentSpan.SpanContext().SpanID(), nextSpan.Links()[0].SpanContext.SpanID())
	for _, p := range processes {
		if p.SpanContext().TraceID() == nextSpan.SpanContext().TraceID() {
			require.Len(t, p.Links(), 1, "the continuation's attempt span links to the parent's")
			require.Equal(t, parentSpan.SpanContext().SpanID(), p.Links()[0].SpanContext.SpanID())
		} else {
			require.Empty(t, p.Links())
		}
	}
}
