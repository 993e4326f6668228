// Package stresstest runs job control against running work on any store and
// checks the invariants that must survive it: several workers with short
// leases and heartbeats and the watchdog on run tasks of random length that
// sometimes ignore their context, while a driver requeues, deletes,
// reschedules and fails random jobs as they run.
//
// Checked at the end: no job left unfinished; every job's history explains
// its state; every attempt whose job was taken from it had its context
// cancelled within about a second, with the cause; no stale attempt stored
// an outcome; no lease was lost to expiry; and each job succeeded at most
// once.
//
// A test rig: only taskflow's own tests import it.
package stresstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Config sizes a run. Zero fields take the defaults shown.
type Config struct {
	// Duration is how long the driver acts; TASKFLOW_STRESS (a Go duration)
	// overrides it, for a longer soak. Default: 3s.
	Duration time.Duration
	// Workers is how many workers serve the store (RollingDeploy: at most,
	// at once). Default: 2 (RollingDeploy: 3).
	Workers int
	// Concurrency of each worker. Default: 4.
	Concurrency int
	// Jobs is how many jobs are created, spread over the run. Default: 100
	// a second of Duration, at least 300.
	Jobs int
}

// setDefaults fills in cfg's zero fields, with workers as the default
// number of workers.
func (cfg *Config) setDefaults(t *testing.T, workers int) {
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	if v := os.Getenv("TASKFLOW_STRESS"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("TASKFLOW_STRESS=%q: %v", v, err)
		}
		cfg.Duration = d
	}
	if cfg.Workers <= 0 {
		cfg.Workers = workers
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = max(300, int(100*cfg.Duration.Seconds()))
	}
}

// LeaseDuration is the workers' lease: short, so that a lease a worker
// fails to renew expires within the run.
const LeaseDuration = 1500 * time.Millisecond

// CancelBound is how soon after a control call returns every attempt it
// took a job from must have its context cancelled.
const CancelBound = 1500 * time.Millisecond

type args struct{ N int }

// attemptRec is what one attempt did, from inside the task.
type attemptRec struct {
	start, end time.Time
	canceledAt time.Time
	cause      error
}

// action is a control call that succeeded on a job read as Processing.
type action struct {
	id         uuid.UUID
	name       string
	start, end time.Time
}

// outcome is a state a worker stored for an attempt.
type outcome struct {
	attempt int
	state   states.Name
}

type recorder struct {
	filters.Defaults
	mu       sync.Mutex
	attempts map[uuid.UUID]map[int]*attemptRec
	actions  []action
	outcomes map[uuid.UUID][]outcome
}

// OnStateApplied implements filters.ApplyStateFilter: it sees the states
// that workers store.
func (r *recorder) OnStateApplied(_ context.Context, c *filters.ApplyStateContext) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes[c.Job.ID()] = append(r.outcomes[c.Job.ID()], outcome{c.Job.Attempt(), c.State.Name()})
}

// running returns a job with an attempt running, if any.
func (r *recorder) running() (uuid.UUID, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []uuid.UUID
	for id, attempts := range r.attempts {
		for _, a := range attempts {
			if a.end.IsZero() {
				ids = append(ids, id)
				break
			}
		}
	}
	if len(ids) == 0 {
		return uuid.UUID{}, false
	}
	return ids[rand.IntN(len(ids))], true
}

// Run runs the stress test on store.
func Run(t *testing.T, store storage.Store, cfg Config) {
	cfg.setDefaults(t, 2)
	rec := &recorder{attempts: map[uuid.UUID]map[int]*attemptRec{}, outcomes: map[uuid.UUID][]outcome{}}
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "stress", func(ctx context.Context, _ args) (int, error) {
		job, _ := taskflow.JobFromContext(ctx)
		a := &attemptRec{start: time.Now()}
		rec.mu.Lock()
		if rec.attempts[job.ID] == nil {
			rec.attempts[job.ID] = map[int]*attemptRec{}
		}
		rec.attempts[job.ID][job.Attempt] = a
		rec.mu.Unlock()
		stop := context.AfterFunc(ctx, func() {
			rec.mu.Lock()
			a.canceledAt, a.cause = time.Now(), context.Cause(ctx)
			rec.mu.Unlock()
		})
		defer stop()
		defer func() {
			rec.mu.Lock()
			a.end = time.Now()
			rec.mu.Unlock()
		}()
		d := time.Duration(rand.IntN(300)) * time.Millisecond
		if rand.IntN(5) == 0 { // longer than a lease, so that a lease left unrenewed shows
			d = LeaseDuration + time.Duration(rand.IntN(1000))*time.Millisecond
		}
		if rand.IntN(5) == 0 { // ignores its context
			time.Sleep(d)
		} else {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if rand.IntN(10) == 0 {
			return 0, errors.New("random failure")
		}
		return job.Attempt, nil
	}, taskflow.WithRetry(filters.Retry{MaxRetries: 2, Delay: func(int) time.Duration { return 0 }}))
	if err != nil {
		t.Fatal(err)
	}
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	workCtx, stopWorkers := context.WithCancel(context.Background())
	defer func() { stopWorkers(); wg.Wait() }()
	for i := range cfg.Workers {
		w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{
			Registry: reg, Concurrency: cfg.Concurrency, Logger: quiet, ID: fmt.Sprintf("stress-%d", i),
			LeaseDuration: LeaseDuration, HeartbeatInterval: 100 * time.Millisecond, WorkerTimeout: 2 * time.Second,
			ShutdownTimeout: time.Second, Filters: []filters.Filter{rec},
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(workCtx); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		}()
	}

	// The driver: create jobs over the run, and act on random running ones.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+2*time.Minute)
	defer cancel()
	var ids []uuid.UUID
	end := time.Now().Add(cfg.Duration)
	perTick := max(1, cfg.Jobs/int(cfg.Duration/(10*time.Millisecond)))
	for time.Now().Before(end) {
		if len(ids) < cfg.Jobs {
			for range perTick {
				h, err := task.On(client).Enqueue(ctx, args{N: len(ids)})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, h.ID)
			}
		}
		if id, ok := rec.running(); ok {
			act(ctx, t, client, rec, id)
		}
		time.Sleep(time.Duration(5+rand.IntN(10)) * time.Millisecond)
	}

	// Nothing stuck: every job reaches Succeeded, Failed or Deleted.
	deadline := time.Now().Add(time.Minute)
	final := map[uuid.UUID]*taskflow.JobInfo{}
	for len(final) < len(ids) && time.Now().Before(deadline) {
		for _, id := range ids {
			if final[id] != nil {
				continue
			}
			info, err := client.Job(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			switch info.State.Name() {
			case states.NameSucceeded, states.NameFailed, states.NameDeleted:
				final[id] = info
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopWorkers()
	wg.Wait()
	if len(final) < len(ids) {
		for _, id := range ids {
			if final[id] == nil {
				info, _ := client.Job(ctx, id)
				t.Errorf("job %s is stuck: %s, history %v", id, info.State.Name(), names(info))
			}
		}
		t.FailNow()
	}
	check(t, rec, final)
}

// act applies a random control call to job id if it is running, and
// records it when it took the job from its attempt.
func act(ctx context.Context, t *testing.T, c *taskflow.Client, rec *recorder, id uuid.UUID) {
	info, err := c.Job(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Name() != states.NameProcessing {
		return
	}
	// Each action applies only while the job is still Processing: Requeue,
	// Reschedule and Delete would act on a job that finished meanwhile too,
	// and a finished job requeued runs, and succeeds, again.
	start := time.Now()
	var name string
	now := time.Now()
	switch rand.IntN(4) {
	case 0:
		name, err = "requeue", c.ChangeState(ctx, id, states.Enqueued{Queue: info.Queue, EnqueuedAt: now, Reason: "requeued by the driver"}, states.NameProcessing)
	case 1:
		name, err = "delete", c.ChangeState(ctx, id, states.Deleted{DeletedAt: now, Reason: "deleted by the driver"}, states.NameProcessing)
	case 2:
		at := now.Add(time.Duration(rand.IntN(200)) * time.Millisecond)
		name, err = "reschedule", c.ChangeState(ctx, id, states.Scheduled{EnqueueAt: at, ScheduledAt: now, Reason: "rescheduled by the driver"}, states.NameProcessing)
	default:
		name, err = "fail", c.ChangeState(ctx, id, states.Failed{FailedAt: now, ErrorMessage: "failed by the driver"}, states.NameProcessing)
	}
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrStateConflict):
		return // it finished meanwhile
	default:
		t.Fatalf("%s %s: %v", name, id, err)
	}
	rec.mu.Lock()
	rec.actions = append(rec.actions, action{id: id, name: name, start: start, end: time.Now()})
	rec.mu.Unlock()
}

func check(t *testing.T, rec *recorder, final map[uuid.UUID]*taskflow.JobInfo) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	taken := 0
	for _, a := range rec.actions {
		for n, at := range rec.attempts[a.id] {
			if !at.start.Before(a.start) || (!at.end.IsZero() && at.end.Before(a.end)) {
				continue // started after the call, or finished before it returned
			}
			taken++
			bound := a.end.Add(CancelBound)
			switch {
			case at.canceledAt.IsZero() && !at.end.IsZero() && at.end.Before(bound):
				// It returned on its own within the bound; its outcome
				// must have been discarded (checked below).
			case at.canceledAt.IsZero():
				t.Errorf("job %s attempt %d: %s at %s did not cancel it", a.id, n, a.name, a.end.Format(time.StampMicro))
			case at.canceledAt.After(bound):
				t.Errorf("job %s attempt %d: cancelled %v after %s", a.id, n, at.canceledAt.Sub(a.end), a.name)
			case at.cause == nil || errors.Is(at.cause, context.Canceled):
				t.Errorf("job %s attempt %d: cancelled without a cause after %s: %v", a.id, n, a.name, at.cause)
			}
		}
	}
	causes := map[error]int{}
	for id, attempts := range rec.attempts {
		for n, at := range attempts {
			for _, want := range []error{taskflow.ErrJobRequeued, taskflow.ErrJobRescheduled, taskflow.ErrJobDeleted, taskflow.ErrJobStateChanged, taskflow.ErrLeaseLost} {
				if errors.Is(at.cause, want) {
					causes[want]++
				}
			}
			if errors.Is(at.cause, taskflow.ErrLeaseLost) {
				t.Errorf("job %s attempt %d lost its lease to expiry: %v", id, n, at.cause)
			}
		}
	}
	succeeded := 0
	for id, info := range final {
		segments := attemptSegments(t, id, info)
		stored := map[int]bool{}
		for _, o := range rec.outcomes[id] {
			if stored[o.attempt] {
				t.Errorf("job %s attempt %d stored two outcomes", id, o.attempt)
			}
			stored[o.attempt] = true
			// The outcome must be in the attempt's own stretch of history:
			// from its Processing entry to the next attempt's.
			if !contains(segments[o.attempt], o.state) {
				t.Errorf("job %s: attempt %d stored %s outside its own stretch of history %v", id, o.attempt, o.state, names(info))
			}
			at := rec.attempts[id][o.attempt]
			if at != nil && at.cause != nil && !at.canceledAt.After(at.end) && !errors.Is(at.cause, context.DeadlineExceeded) {
				t.Errorf("job %s attempt %d stored %s although its job was taken from it: %v", id, o.attempt, o.state, at.cause)
			}
			if o.state == states.NameSucceeded {
				succeeded++
			}
		}
	}
	t.Logf("jobs %d, actions that took a running job %d, attempts checked for cancellation %d, cancel causes %v, succeeded %d",
		len(final), len(rec.actions), taken, causes, succeeded)
	if len(rec.actions) == 0 {
		t.Error("the driver took no running job: the run proves nothing")
	}
}

// attemptSegments checks that the history explains the job's state and
// splits it by attempt: segment n holds the states entered from attempt n's
// Processing entry up to the next one.
func attemptSegments(t *testing.T, id uuid.UUID, info *taskflow.JobInfo) map[int][]states.Name {
	h := names(info)
	if len(h) == 0 || h[len(h)-1] != info.State.Name() {
		t.Errorf("job %s: history %v does not end in its state %s", id, h, info.State.Name())
	}
	segs := map[int][]states.Name{}
	n, succeeded := 0, 0
	for i, s := range h {
		var prev states.Name
		if i > 0 {
			prev = h[i-1]
		}
		switch s {
		case states.NameProcessing:
			if prev != states.NameEnqueued {
				t.Errorf("job %s: Processing after %q in %v", id, prev, h)
			}
			n++
		case states.NameSucceeded:
			succeeded++
			if prev != states.NameProcessing {
				t.Errorf("job %s: Succeeded after %q in %v", id, prev, h)
			}
		case states.NameFailed:
			if prev != states.NameProcessing {
				t.Errorf("job %s: Failed after %q in %v", id, prev, h)
			}
		}
		segs[n] = append(segs[n], s)
	}
	if succeeded > 1 {
		t.Errorf("job %s succeeded %d times: %v", id, succeeded, h)
	}
	if info.Attempt != n {
		t.Errorf("job %s: attempt %d but %d Processing entries", id, info.Attempt, n)
	}
	return segs
}

func names(info *taskflow.JobInfo) []states.Name {
	if info == nil {
		return nil
	}
	out := make([]states.Name, len(info.History))
	for i, c := range info.History {
		out[i] = c.State.Name()
	}
	return out
}

func contains(list []states.Name, s states.Name) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
