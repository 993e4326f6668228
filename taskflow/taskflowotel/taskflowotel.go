// Package taskflowotel traces jobs with OpenTelemetry. It is an
// integration a program opts into; the core packages never import
// OpenTelemetry.
//
// Tracing is a taskflow filter: give the same value to the clients that
// enqueue (ClientOptions.Filters) and to the workers that run
// (WorkerOptions.Filters), in any number of processes.
//
//	tracing := taskflowotel.New(taskflowotel.Options{}) // the global TracerProvider
//	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{Filters: []filters.Filter{tracing}})
//	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Filters: []filters.Filter{tracing}})
//
// Enqueueing a job starts a producer span, a child of the span in the
// enqueue's context, and stores its W3C trace context inside the job (the
// parameter "taskflow.trace"). Each attempt runs in a consumer span whose
// parent is that producer span, even when the worker is another process on
// another host; the task's ctx carries it, so spans the task starts nest
// under it. An attempt of a trace that was not sampled starts no span: the
// task's ctx carries the enqueue's span context, so its own spans are not
// sampled either. Attributes follow OpenTelemetry's messaging conventions.
//
// A continuation's spans link to its parent job's producer span when the
// filter can read the parent (Options.Store): the parent's trace context is
// copied into the continuation (the parameter "taskflow.trace.link") when
// it is created.
//
// [NewMetrics] records the same metrics as package taskflowprom through an
// OpenTelemetry MeterProvider.
package taskflowotel

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/storage"
)

// Param is the job parameter that carries the enqueue's trace context.
const Param = "taskflow.trace"

// LinkParam is the job parameter that carries, in a continuation, its
// parent job's trace context.
const LinkParam = "taskflow.trace.link"

// Options configure Tracing. The zero value uses OpenTelemetry's globals.
type Options struct {
	// TracerProvider makes the tracer. Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Propagator encodes the trace context into the job. Default: the W3C
	// trace context (propagation.TraceContext).
	Propagator propagation.TextMapPropagator
	// Store, when set, is read for the parent of each continuation created,
	// so that the continuation's spans link to the parent's. It costs one
	// read per continuation.
	Store storage.Store
}

// Tracing is a client and server filter that traces jobs.
type Tracing struct {
	filters.Defaults
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	store      storage.Store

	mu       sync.Mutex
	creating map[uuid.UUID]trace.Span // recording producer spans until OnCreated
	inFlight atomic.Int64             // len(creating)

	names sync.Map // task name → *spanNames
}

// spanNames are a task's span names, made once.
type spanNames struct{ enqueue, process string }

// Span kinds as start options, made once.
var (
	producer = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindProducer)}
	consumer = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

func (t *Tracing) spanNames(task string) *spanNames {
	if n, ok := t.names.Load(task); ok {
		return n.(*spanNames)
	}
	n, _ := t.names.LoadOrStore(task, &spanNames{enqueue: "enqueue " + task, process: "process " + task})
	return n.(*spanNames)
}

// New returns the tracing filter.
func New(opts Options) *Tracing {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	p := opts.Propagator
	if p == nil {
		p = propagation.TraceContext{}
	}
	return &Tracing{
		tracer:     tp.Tracer("github.com/taskflow-go/taskflow/taskflow/taskflowotel"),
		propagator: p,
		store:      opts.Store,
		creating:   map[uuid.UUID]trace.Span{},
	}
}

func attributes(j filters.Job, op string, kind attribute.KeyValue) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemKey.String("taskflow"),
		kind,
		semconv.MessagingOperationName(op),
		semconv.MessagingDestinationName(j.Queue()),
		semconv.MessagingMessageID(j.ID().String()),
		attribute.String("taskflow.task", j.Task()),
	}
}

// OnCreating implements filters.ClientFilter: it starts the job's producer
// span and stores its trace context in the job.
func (t *Tracing) OnCreating(ctx context.Context, c *filters.CreatingContext) error {
	opts := producer
	if link, raw := t.parentLink(ctx, c.Job); link.SpanContext.IsValid() {
		opts = append(opts[:len(opts):len(opts)], trace.WithLinks(link))
		c.SetParam(LinkParam, raw)
	}
	ctx, span := t.tracer.Start(ctx, t.spanNames(c.Job.Task()).enqueue, opts...)
	if span.IsRecording() {
		span.SetAttributes(attributes(c.Job, "enqueue", semconv.MessagingOperationTypeSend)...)
	}
	if raw := t.inject(ctx); raw != nil {
		c.SetParam(Param, raw)
	}
	if span.IsRecording() { // one not recording has nothing to end
		t.mu.Lock()
		t.creating[c.Job.ID()] = span
		t.inFlight.Store(int64(len(t.creating)))
		t.mu.Unlock()
	}
	return nil
}

// parentLink returns a link to the producer span of j's parent job, and
// its encoded trace context, when j is a continuation of a job that has one.
func (t *Tracing) parentLink(ctx context.Context, j filters.Job) (trace.Link, json.RawMessage) {
	if t.store == nil || j.ParentID() == uuid.Nil {
		return trace.Link{}, nil
	}
	var parent *storage.Job
	var err error
	if p, ok := t.store.(storage.Peeker); ok {
		parent, err = p.Peek(ctx, j.ParentID())
	} else {
		parent, err = t.store.Get(ctx, j.ParentID())
	}
	if err != nil { // a batch, or a parent gone: no link
		return trace.Link{}, nil
	}
	raw, ok := parent.Params[Param]
	if !ok {
		return trace.Link{}, nil
	}
	sc := trace.SpanContextFromContext(t.extract(context.Background(), raw))
	return trace.Link{SpanContext: sc}, raw
}

// w3cPrefix starts what inject writes for the W3C propagator; a version 00
// traceparent of 55 characters follows.
const w3cPrefix = `{"traceparent":"`

// inject encodes the trace context of ctx, or returns nil for none. The
// W3C propagator's output is written directly, the others' through a map.
func (t *Tracing) inject(ctx context.Context) json.RawMessage {
	sc := trace.SpanContextFromContext(ctx)
	if _, w3c := t.propagator.(propagation.TraceContext); w3c && sc.IsValid() && sc.TraceState().Len() == 0 {
		b := make([]byte, 0, len(w3cPrefix)+57)
		b = append(b, w3cPrefix+"00-"...)
		b = append(b, sc.TraceID().String()...)
		b = append(b, '-')
		b = append(b, sc.SpanID().String()...)
		b = append(b, '-')
		b = hex.AppendEncode(b, []byte{byte(sc.TraceFlags() & trace.FlagsSampled)})
		return append(b, `"}`...)
	}
	carrier := propagation.MapCarrier{}
	t.propagator.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return nil
	}
	raw, err := json.Marshal(carrier)
	if err != nil {
		return nil
	}
	return raw
}

// extract returns ctx with the trace context encoded in raw.
func (t *Tracing) extract(ctx context.Context, raw json.RawMessage) context.Context {
	if _, w3c := t.propagator.(propagation.TraceContext); w3c {
		if sc, ok := parseTraceparent(raw); ok {
			return trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	var w3c struct { // what the W3C propagator writes, decoded without a map
		Traceparent string `json:"traceparent"`
		Tracestate  string `json:"tracestate"`
	}
	if json.Unmarshal(raw, &w3c) == nil && w3c.Traceparent != "" {
		carrier := propagation.MapCarrier{"traceparent": w3c.Traceparent}
		if w3c.Tracestate != "" {
			carrier["tracestate"] = w3c.Tracestate
		}
		return t.propagator.Extract(ctx, carrier)
	}
	if m := (propagation.MapCarrier{}); json.Unmarshal(raw, &m) == nil {
		return t.propagator.Extract(ctx, m) // another propagator's fields
	}
	return ctx
}

// parseTraceparent reads a parameter holding only a version 00 W3C
// traceparent, as inject writes it or as a store gives it back (PostgreSQL's
// jsonb adds a space after the colon), without encoding/json.
func parseTraceparent(raw []byte) (trace.SpanContext, bool) {
	rest, ok := bytes.CutPrefix(raw, []byte(`{"traceparent":`))
	if !ok {
		return trace.SpanContext{}, false
	}
	rest = bytes.TrimLeft(rest, " ")
	if len(rest) < 57 || rest[0] != '"' || rest[56] != '"' || string(bytes.TrimSpace(rest[57:])) != "}" {
		return trace.SpanContext{}, false
	}
	tp := rest[1:56] // 00-<trace id>-<span id>-<flags>
	if string(tp[:3]) != "00-" || tp[35] != '-' || tp[52] != '-' {
		return trace.SpanContext{}, false
	}
	tid, err1 := trace.TraceIDFromHex(string(tp[3:35]))
	sid, err2 := trace.SpanIDFromHex(string(tp[36:52]))
	var flags [1]byte
	_, err3 := hex.Decode(flags[:], tp[53:55])
	if err1 != nil || err2 != nil || err3 != nil {
		return trace.SpanContext{}, false
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled, Remote: true}), true
}

// OnCreated implements filters.ClientFilter: it ends the producer span.
func (t *Tracing) OnCreated(_ context.Context, c *filters.CreatedContext) {
	if t.inFlight.Load() == 0 {
		return
	}
	t.mu.Lock()
	span, ok := t.creating[c.Job.ID()]
	delete(t.creating, c.Job.ID())
	t.inFlight.Store(int64(len(t.creating)))
	t.mu.Unlock()
	if !ok {
		return
	}
	if c.Err != nil {
		span.RecordError(c.Err)
		span.SetStatus(codes.Error, c.Err.Error())
	}
	span.End()
}

// OnPerform implements filters.ServerFilter: the attempt runs in a
// consumer span whose parent is the job's producer span.
func (t *Tracing) OnPerform(ctx context.Context, c *filters.PerformContext, next func(context.Context) error) error {
	if raw, ok := c.Job.Param(Param); ok {
		ctx = t.extract(ctx, raw)
	}
	if parent := trace.SpanContextFromContext(ctx); parent.IsValid() && !parent.IsSampled() {
		return next(ctx) // a trace not sampled: spans the task starts inherit that
	}
	opts := consumer
	if raw, ok := c.Job.Param(LinkParam); ok {
		if sc := trace.SpanContextFromContext(t.extract(context.Background(), raw)); sc.IsValid() {
			opts = append(opts[:len(opts):len(opts)], trace.WithLinks(trace.Link{SpanContext: sc}))
		}
	}
	ctx, span := t.tracer.Start(ctx, t.spanNames(c.Job.Task()).process, opts...)
	if span.IsRecording() {
		span.SetAttributes(append(attributes(c.Job, "process", semconv.MessagingOperationTypeProcess),
			attribute.Int("taskflow.attempt", c.Job.Attempt()))...)
	}
	defer span.End()
	err := next(ctx)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	return err
}
