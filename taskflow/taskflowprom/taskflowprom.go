// Package taskflowprom exports taskflow's metrics to Prometheus. It is an
// integration a program opts into; the core packages never import
// Prometheus.
//
//	hub := taskflow.NewEvents()
//	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{Events: hub})
//	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Events: hub})
//	collector := taskflowprom.New(hub, taskflowprom.Options{Client: client})
//	defer collector.Close()
//	prometheus.MustRegister(collector)
//
// Counters and histograms come from the events of the clients and workers
// of the hub, in this process: sum them over processes in queries. Queue
// gauges are read from the store at scrape time, through Options.Client,
// and cached for Options.CacheFor, so that many scrapers do not load the
// database. Labels are task and queue names, never job IDs.
package taskflowprom

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/taskflow-go/taskflow/taskflow"
)

// Options configure a Collector. The zero value is valid.
type Options struct {
	// Namespace prefixes every metric name. Default: "taskflow".
	Namespace string
	// Client, when set, is asked for the queues (depth, latency, paused)
	// at scrape time.
	Client *taskflow.Client
	// CacheFor is how long a scrape reuses the queues read by the one
	// before. Default: 5s.
	CacheFor time.Duration
	// Buckets of the duration histograms, in seconds. Default:
	// prometheus.DefBuckets.
	Buckets []float64
	// Buffer is the number of events the collector may fall behind by
	// before it drops some (counted in events_dropped_total).
	// Default: 4096.
	Buffer int
}

// Collector is a prometheus.Collector of taskflow's metrics. Close it to
// stop it listening to its hub.
type Collector struct {
	opts Options
	sub  *taskflow.Subscription
	done chan struct{}

	jobs     *prometheus.CounterVec   // by task, queue, event
	duration *prometheus.HistogramVec // attempts, by task, queue
	pickup   *prometheus.HistogramVec // by task, queue
	lost     *prometheus.CounterVec   // leases lost, by task, queue, cause
	dropped  prometheus.CounterFunc

	depth, queueHeld, latency, paused, workers *prometheus.Desc
	slots, held                                *prometheus.Desc
	scrapeErrors                               prometheus.Counter

	mu       sync.Mutex
	queues   []taskflow.QueueInfo
	limits   []taskflow.LimitInfo // summed over partitions
	limitsAt time.Time
	alive    int
	haveWks  bool // the store keeps a worker registry
	readAt   time.Time
}

// New returns a collector of the events of hub.
func New(hub *taskflow.Events, opts Options) *Collector {
	if opts.Namespace == "" {
		opts.Namespace = "taskflow"
	}
	if opts.CacheFor <= 0 {
		opts.CacheFor = 5 * time.Second
	}
	if len(opts.Buckets) == 0 {
		opts.Buckets = prometheus.DefBuckets
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	ns := opts.Namespace
	c := &Collector{
		opts: opts,
		sub:  hub.Subscribe(opts.Buffer),
		done: make(chan struct{}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "job_events_total",
			Help: "Jobs that entered a state or started an attempt, by task, queue and event (enqueued, scheduled, awaiting, started, succeeded, retried, failed, deleted).",
		}, []string{"task", "queue", "event"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "attempt_duration_seconds", Buckets: opts.Buckets,
			Help: "How long attempts ran, by task and queue.",
		}, []string{"task", "queue"}),
		pickup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "pickup_latency_seconds", Buckets: opts.Buckets,
			Help: "How long jobs waited from their creation until an attempt started, by task and queue.",
		}, []string{"task", "queue"}),
		lost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "leases_lost_total",
			Help: "Running attempts whose lease could not be renewed, by task, queue and cause (requeued, rescheduled, deleted, state_changed, reclaimed).",
		}, []string{"task", "queue", "cause"}),
		depth: prometheus.NewDesc(ns+"_queue_depth", "Jobs waiting in the queue.", []string{"queue"}, nil),
		queueHeld: prometheus.NewDesc(ns+"_queue_held", "Jobs waiting in the queue that a full flow-control limit holds back, each counted once (part of queue_depth; the rest wait only for a worker).",
			[]string{"queue"}, nil),
		latency: prometheus.NewDesc(ns+"_queue_latency_seconds", "How long the job waiting longest in the queue has waited.", []string{"queue"}, nil),
		paused:  prometheus.NewDesc(ns+"_queue_paused", "1 when the queue is paused.", []string{"queue"}, nil),
		workers: prometheus.NewDesc(ns+"_workers_alive", "Workers registered with the store (heartbeats within their timeout).", nil, nil),
		slots: prometheus.NewDesc(ns+"_limit_slots_in_use", "Jobs running under a flow-control limit, summed over its partitions, by scope (queue, task, partition) and name.",
			[]string{"scope", "name"}, nil),
		held: prometheus.NewDesc(ns+"_limit_jobs_held", "Enqueued jobs waiting on a flow-control limit (full, or its rate spent), summed over its partitions, by scope and name.",
			[]string{"scope", "name"}, nil),
		scrapeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "store_read_errors_total", Help: "Scrapes that could not read the queues or the workers from the store.",
		}),
	}
	c.dropped = prometheus.NewCounterFunc(prometheus.CounterOpts{
		Namespace: ns, Name: "events_dropped_total", Help: "Events the collector lost because it fell behind.",
	}, func() float64 { return float64(c.sub.Dropped()) })
	go c.consume()
	return c
}

// series is one task and queue's metrics, looked up once: hashing label
// values costs more than counting.
type series struct {
	events           map[taskflow.EventKind]prometheus.Counter
	lost             map[string]prometheus.Counter
	duration, pickup prometheus.Observer
}

// consume turns events into metrics until the subscription closes.
func (c *Collector) consume() {
	defer close(c.done)
	all := map[[2]string]*series{}
	for ev := range c.sub.C {
		if ev.Kind == taskflow.EventLimitHeld {
			continue // a limit's, not a job's: the limit gauges show it
		}
		s := all[[2]string{ev.Task, ev.Queue}]
		if s == nil {
			s = &series{events: map[taskflow.EventKind]prometheus.Counter{}, lost: map[string]prometheus.Counter{},
				duration: c.duration.WithLabelValues(ev.Task, ev.Queue), pickup: c.pickup.WithLabelValues(ev.Task, ev.Queue)}
			all[[2]string{ev.Task, ev.Queue}] = s
		}
		n := s.events[ev.Kind]
		if n == nil {
			n = c.jobs.WithLabelValues(ev.Task, ev.Queue, ev.Kind.String())
			s.events[ev.Kind] = n
		}
		n.Inc()
		switch ev.Kind {
		case taskflow.EventStarted:
			s.pickup.Observe(ev.Pickup.Seconds())
		case taskflow.EventSucceeded, taskflow.EventRetried, taskflow.EventFailed, taskflow.EventDeleted:
			if ev.Worker != "" { // the end of an attempt, not a client's delete
				s.duration.Observe(ev.Duration.Seconds())
			}
		case taskflow.EventLeaseLost:
			l := s.lost[ev.Cause()]
			if l == nil {
				l = c.lost.WithLabelValues(ev.Task, ev.Queue, ev.Cause())
				s.lost[ev.Cause()] = l
			}
			l.Inc()
		}
	}
}

// Close stops the collector listening to its hub. Metrics already
// counted stay.
func (c *Collector) Close() {
	c.sub.Close()
	<-c.done
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	c.jobs.Describe(ch)
	c.duration.Describe(ch)
	c.pickup.Describe(ch)
	c.lost.Describe(ch)
	c.dropped.Describe(ch)
	c.scrapeErrors.Describe(ch)
	ch <- c.depth
	ch <- c.latency
	ch <- c.paused
	ch <- c.workers
	ch <- c.slots
	ch <- c.held
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	c.jobs.Collect(ch)
	c.duration.Collect(ch)
	c.pickup.Collect(ch)
	c.lost.Collect(ch)
	c.dropped.Collect(ch)
	queues, alive, haveWks := c.read()
	for _, l := range c.readLimits() {
		ch <- prometheus.MustNewConstMetric(c.slots, prometheus.GaugeValue, float64(l.Running), l.Scope, l.Name)
		ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(l.Held), l.Scope, l.Name)
	}
	if haveWks {
		ch <- prometheus.MustNewConstMetric(c.workers, prometheus.GaugeValue, float64(alive))
	}
	for _, q := range queues {
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(q.Enqueued), q.Name)
		ch <- prometheus.MustNewConstMetric(c.queueHeld, prometheus.GaugeValue, float64(q.Held), q.Name)
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, q.Latency.Seconds(), q.Name)
		paused := 0.0
		if q.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q.Name)
	}
	c.scrapeErrors.Collect(ch)
}

// read returns the queues and the number of workers alive, read from the
// store at most once per CacheFor.
func (c *Collector) read() ([]taskflow.QueueInfo, int, bool) {
	if c.opts.Client == nil {
		return nil, 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && time.Since(c.readAt) < c.opts.CacheFor {
		return c.queues, c.alive, c.haveWks
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qs, err := c.opts.Client.Queues(ctx)
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		qs = nil // a store without queue control has no queue gauges
	case err != nil:
		c.scrapeErrors.Inc()
		return c.queues, c.alive, c.haveWks // the last known, rather than none
	}
	ws, err := c.opts.Client.Workers(ctx)
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		c.haveWks = false
	case err != nil:
		c.scrapeErrors.Inc()
		return c.queues, c.alive, c.haveWks
	default:
		c.alive, c.haveWks = len(ws), true
	}
	c.queues, c.readAt = qs, time.Now()
	return qs, c.alive, c.haveWks
}

// readLimits returns the use of every limit, summed over its partitions,
// read at most once per CacheFor; none on a store without flow control.
func (c *Collector) readLimits() []taskflow.LimitInfo {
	if c.opts.Client == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.limitsAt.IsZero() && time.Since(c.limitsAt) < c.opts.CacheFor {
		return c.limits
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ls, err := c.opts.Client.Limits(ctx)
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		ls = nil
	case err != nil:
		c.scrapeErrors.Inc()
		return c.limits
	}
	c.limits, c.limitsAt = taskflow.LimitTotals(ls), time.Now()
	return c.limits
}
