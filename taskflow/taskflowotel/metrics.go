package taskflowotel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"

	"github.com/taskflow-go/taskflow/taskflow"
)

// MetricsOptions configure Metrics. The zero value is valid.
type MetricsOptions struct {
	// MeterProvider makes the meter. Default: otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// Client, when set, is asked for the queues (depth, latency, paused)
	// each time the reader collects.
	Client *taskflow.Client
	// Buffer is the number of events Metrics may fall behind by before it
	// drops some (counted in taskflow.events.dropped). Default: 4096.
	Buffer int
}

// Metrics records taskflow's metrics through OpenTelemetry, as
// taskflowprom does for Prometheus: counters and histograms from the
// events of a hub, queue gauges read from the store when the reader
// collects. Attributes are task and queue names, never job IDs. Close it
// to stop it listening to its hub.
//
//	m, err := taskflowotel.NewMetrics(hub, taskflowotel.MetricsOptions{Client: client})
//	defer m.Close()
type Metrics struct {
	sub          *taskflow.Subscription
	done         chan struct{}
	registration metric.Registration

	duration, pickup metric.Float64Histogram

	// The counters (taskflow.job.events, taskflow.leases.lost) are counted
	// here and observed when the reader collects, rather than added to the
	// SDK one event at a time, which costs more than the rest together.
	mu     sync.Mutex
	counts map[metricKey]*count
}

// count is one counter's value for one set of attributes.
type count struct {
	n   int64
	opt metric.ObserveOption
}

// NewMetrics returns Metrics recording the events of hub.
func NewMetrics(hub *taskflow.Events, opts MetricsOptions) (*Metrics, error) {
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	meter := mp.Meter("github.com/taskflow-go/taskflow/taskflow/taskflowotel")
	m := &Metrics{done: make(chan struct{}), counts: map[metricKey]*count{}}
	var err error
	events, err := meter.Int64ObservableCounter("taskflow.job.events", metric.WithUnit("{event}"),
		metric.WithDescription("Jobs that entered a state or started an attempt, by task, queue and event."))
	if err != nil {
		return nil, fmt.Errorf("taskflowotel: %w", err)
	}
	if m.duration, err = meter.Float64Histogram("taskflow.attempt.duration", metric.WithUnit("s"),
		metric.WithDescription("How long attempts ran.")); err != nil {
		return nil, fmt.Errorf("taskflowotel: %w", err)
	}
	if m.pickup, err = meter.Float64Histogram("taskflow.pickup.latency", metric.WithUnit("s"),
		metric.WithDescription("How long jobs waited from their creation until an attempt started.")); err != nil {
		return nil, fmt.Errorf("taskflowotel: %w", err)
	}
	lost, err := meter.Int64ObservableCounter("taskflow.leases.lost", metric.WithUnit("{attempt}"),
		metric.WithDescription("Running attempts whose lease could not be renewed, by cause."))
	if err != nil {
		return nil, fmt.Errorf("taskflowotel: %w", err)
	}
	depth, err1 := meter.Int64ObservableGauge("taskflow.queue.depth", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs waiting in the queue."))
	latency, err2 := meter.Float64ObservableGauge("taskflow.queue.latency", metric.WithUnit("s"),
		metric.WithDescription("How long the job waiting longest in the queue has waited."))
	paused, err3 := meter.Int64ObservableGauge("taskflow.queue.paused",
		metric.WithDescription("1 when the queue is paused."))
	dropped, err4 := meter.Int64ObservableCounter("taskflow.events.dropped", metric.WithUnit("{event}"),
		metric.WithDescription("Events the metrics lost because they fell behind."))
	slots, err5 := meter.Int64ObservableGauge("taskflow.limit.slots_in_use", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs running under a flow-control limit, summed over its partitions."))
	held, err6 := meter.Int64ObservableGauge("taskflow.limit.jobs_held", metric.WithUnit("{job}"),
		metric.WithDescription("Enqueued jobs waiting on a flow-control limit (full, or its rate spent), summed over its partitions."))
	queueHeld, err7 := meter.Int64ObservableGauge("taskflow.queue.held", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs waiting in the queue that a full flow-control limit holds back, each counted once (part of taskflow.queue.depth; the rest wait only for a worker)."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, err7); err != nil {
		return nil, fmt.Errorf("taskflowotel: %w", err)
	}
	m.sub = hub.Subscribe(opts.Buffer)
	m.registration, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		o.ObserveInt64(dropped, m.sub.Dropped())
		m.mu.Lock()
		for k, c := range m.counts {
			if k.attr == attrCause {
				o.ObserveInt64(lost, c.n, c.opt)
			} else {
				o.ObserveInt64(events, c.n, c.opt)
			}
		}
		m.mu.Unlock()
		if opts.Client == nil {
			return nil
		}
		ls, err := opts.Client.Limits(ctx)
		if err != nil && !errors.Is(err, taskflow.ErrNotSupported) {
			return err
		}
		for _, l := range taskflow.LimitTotals(ls) {
			at := metric.WithAttributes(attribute.String("taskflow.limit.scope", l.Scope), attribute.String("taskflow.limit.name", l.Name))
			o.ObserveInt64(slots, l.Running, at)
			o.ObserveInt64(held, l.Held, at)
		}
		qs, err := opts.Client.Queues(ctx)
		if errors.Is(err, taskflow.ErrNotSupported) {
			return nil
		}
		for _, q := range qs {
			at := metric.WithAttributes(semconv.MessagingDestinationName(q.Name))
			o.ObserveInt64(depth, q.Enqueued, at)
			o.ObserveInt64(queueHeld, q.Held, at)
			o.ObserveFloat64(latency, q.Latency.Seconds(), at)
			p := int64(0)
			if q.Paused {
				p = 1
			}
			o.ObserveInt64(paused, p, at)
		}
		return err
	}, depth, queueHeld, latency, paused, dropped, events, lost, slots, held)
	if err != nil {
		m.sub.Close()
		return nil, fmt.Errorf("taskflowotel: %w", err)
	}
	go m.consume()
	return m, nil
}

// metricKey names a set of attributes; the sets are built once each, as
// building one (hashing every attribute) costs more than recording.
type metricKey struct {
	task, queue string
	attr, value string // a third attribute, if attr is not empty
}

// The third attribute of each counter.
const (
	attrEvent = "taskflow.event"
	attrCause = "taskflow.cause"
)

func (k metricKey) set() attribute.Set {
	kv := []attribute.KeyValue{attribute.String("taskflow.task", k.task), semconv.MessagingDestinationName(k.queue)}
	if k.attr != "" {
		kv = append(kv, attribute.String(k.attr, k.value))
	}
	return attribute.NewSet(kv...)
}

// add counts one event for the counter and attributes of k.
func (m *Metrics) add(k metricKey) {
	m.mu.Lock()
	c, ok := m.counts[k]
	if !ok {
		c = &count{opt: metric.WithAttributeSet(k.set())}
		m.counts[k] = c
	}
	c.n++
	m.mu.Unlock()
}

func (m *Metrics) consume() {
	defer close(m.done)
	ctx := context.Background()
	// Histogram options, per task and queue, kept as the slices Record
	// takes so that a call allocates nothing.
	sets := map[metricKey][]metric.RecordOption{}
	set := func(k metricKey) []metric.RecordOption {
		o, ok := sets[k]
		if !ok {
			o = []metric.RecordOption{metric.WithAttributeSet(k.set())}
			sets[k] = o
		}
		return o
	}
	for ev := range m.sub.C {
		if ev.Kind == taskflow.EventLimitHeld {
			continue // a limit's, not a job's: the limit gauges show it
		}
		m.add(metricKey{ev.Task, ev.Queue, attrEvent, ev.Kind.String()})
		switch ev.Kind {
		case taskflow.EventStarted:
			m.pickup.Record(ctx, ev.Pickup.Seconds(), set(metricKey{task: ev.Task, queue: ev.Queue})...)
		case taskflow.EventSucceeded, taskflow.EventRetried, taskflow.EventFailed, taskflow.EventDeleted:
			if ev.Worker != "" { // the end of an attempt, not a client's delete
				m.duration.Record(ctx, ev.Duration.Seconds(), set(metricKey{task: ev.Task, queue: ev.Queue})...)
			}
		case taskflow.EventLeaseLost:
			m.add(metricKey{ev.Task, ev.Queue, attrCause, ev.Cause()})
		}
	}
}

// Close stops the metrics listening to the hub and unregisters the queue
// gauges.
func (m *Metrics) Close() {
	m.sub.Close()
	<-m.done
	_ = m.registration.Unregister()
}
