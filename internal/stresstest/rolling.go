package stresstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// run is one run of a task, as the task saw it.
type run struct {
	attempt int
	failed  bool
}

// release is a set of tasks a worker of one release knows.
type release struct {
	name string
	reg  *taskflow.Registry
}

// RollingDeploy runs a rolling deploy, back and forth, against store:
// workers of two releases, each knowing a task the other does not (and a
// task both know), join and leave at random while jobs of the three tasks
// run, fail at random and are retried. Workers meet jobs of tasks they do
// not know and send them back.
//
// Checked at the end: every job finished (Succeeded, or Failed by its own
// failures once its retries were spent: every job has a function in some
// release, and runs); the attempt numbers each job's runs saw are 1, 2, ...
// with no gap and no repeat, and its stored Attempt is its number of runs:
// bounces spent none.
func RollingDeploy(t *testing.T, store storage.Store, cfg Config) {
	cfg.setDefaults(t, 3) // at most 3 workers live at once
	const retries = 2
	var mu sync.Mutex
	runs := map[uuid.UUID][]run{}
	work := func(ctx context.Context, _ args) (int, error) {
		job, _ := taskflow.JobFromContext(ctx)
		time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
		failed := rand.IntN(3) == 0
		mu.Lock()
		runs[job.ID] = append(runs[job.ID], run{job.Attempt, failed})
		mu.Unlock()
		if failed {
			return 0, errors.New("random failure")
		}
		return job.Attempt, nil
	}
	retry := taskflow.WithRetry(filters.Retry{MaxRetries: retries, Delay: func(int) time.Duration { return 0 }})
	old, next := release{"old", taskflow.NewRegistry()}, release{"new", taskflow.NewRegistry()}
	var tasks []*taskflow.Task[args, int]
	for _, r := range []struct {
		task string
		in   []release
	}{{"common", []release{old, next}}, {"old-only", []release{old}}, {"new-only", []release{next}}} {
		var task *taskflow.Task[args, int]
		for _, rel := range r.in {
			var err error
			if task, err = taskflow.RegisterTask(rel.reg, r.task, work, retry); err != nil {
				t.Fatal(err)
			}
		}
		tasks = append(tasks, task)
	}
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	type live struct {
		rel  string
		stop func()
	}
	var (
		workers []live
		started int
		wg      sync.WaitGroup
	)
	start := func(rel release) {
		started++
		w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{
			Registry: rel.reg, Concurrency: cfg.Concurrency, Logger: quiet, ID: fmt.Sprintf("%s-%d", rel.name, started),
			LeaseDuration: LeaseDuration, HeartbeatInterval: 100 * time.Millisecond, WorkerTimeout: 2 * time.Second,
			ShutdownTimeout: 5 * time.Second, PollInterval: 20 * time.Millisecond,
			// Bounces 400 ms to 2 s apart, and never failed for good.
			UnknownTaskTimeout: 20 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done)
			if err := w.Run(ctx); err != nil {
				t.Errorf("worker %s: %v", w.ID(), err)
			}
		}()
		workers = append(workers, live{rel.name, func() { cancel(); <-done }})
	}
	stopAt := func(i int) {
		workers[i].stop()
		workers = slices.Delete(workers, i, i+1)
	}
	defer func() {
		for len(workers) > 0 {
			stopAt(0)
		}
		wg.Wait()
	}()
	start(old)

	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+2*time.Minute)
	defer cancel()
	var ids []uuid.UUID
	end := time.Now().Add(cfg.Duration)
	perTick := max(1, cfg.Jobs/int(cfg.Duration/(10*time.Millisecond)))
	nextChange := time.Now()
	for time.Now().Before(end) {
		if len(ids) < cfg.Jobs {
			for range perTick {
				h, err := tasks[rand.IntN(len(tasks))].On(client).Enqueue(ctx, args{N: len(ids)})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, h.ID)
			}
		}
		if time.Now().After(nextChange) { // a worker leaves, or one of either release joins
			if len(workers) > 1 && (len(workers) >= cfg.Workers || rand.IntN(2) == 0) {
				stopAt(rand.IntN(len(workers)))
			}
			if len(workers) < cfg.Workers {
				start([]release{old, next}[rand.IntN(2)])
			}
			nextChange = time.Now().Add(time.Duration(100+rand.IntN(200)) * time.Millisecond)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The deploy settles: first on the old release alone, until every job
	// of a task it knows has finished, then on the new one, which runs the
	// rest. (With both live, a job may keep meeting workers that do not
	// know its task; a deploy ends on one release.)
	deadline := time.Now().Add(15 * time.Second)
	final := map[uuid.UUID]*taskflow.JobInfo{}
	for _, rel := range []release{old, next} {
		for len(workers) > 0 {
			stopAt(0)
		}
		start(rel)
		for time.Now().Before(deadline) {
			pending := 0
			for _, id := range ids {
				if final[id] != nil {
					continue
				}
				info, err := client.Job(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if n := info.State.Name(); n == states.NameSucceeded || n == states.NameFailed || n == states.NameDeleted {
					final[id] = info
				} else if rel.name == next.name || info.Task != "new-only" {
					pending++
				}
			}
			if pending == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for len(workers) > 0 {
		stopAt(0)
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	bounces, failed := 0, 0
	for _, id := range ids {
		info := final[id]
		if info == nil {
			info, _ = client.Job(ctx, id)
			t.Errorf("job %s is stuck: %s, history %v", id, info.State.Name(), names(info))
			continue
		}
		for _, h := range info.History {
			if strings.Contains(h.State.Why(), "waiting for a worker that knows it") {
				bounces++
			}
		}
		rs := runs[id]
		for i, r := range rs {
			if r.attempt != i+1 {
				t.Errorf("job %s of %s: its runs saw attempts %v, want 1, 2, ...: a bounce spent an attempt, or one ran twice; history %s", id, info.Task, rs, reasons(info))
				break
			}
		}
		if info.Attempt != len(rs) {
			t.Errorf("job %s of %s: stored attempt %d after %d runs", id, info.Task, info.Attempt, len(rs))
		}
		switch st := info.State.(type) {
		case states.Succeeded:
			if len(rs) == 0 || rs[len(rs)-1].failed {
				t.Errorf("job %s of %s succeeded, but its last run failed: %v", id, info.Task, rs)
			}
		case states.Failed:
			failed++
			if len(rs) != retries+1 || !rs[len(rs)-1].failed || st.ErrorMessage != "random failure" {
				t.Errorf("job %s of %s failed (%s) after runs %v, want %d failed runs", id, info.Task, st.ErrorMessage, rs, retries+1)
			}
		default:
			t.Errorf("job %s of %s ended %s: %v", id, info.Task, info.State.Name(), names(info))
		}
	}
	t.Logf("jobs %d, workers started %d, bounces %d, failed for good %d", len(ids), started, bounces, failed)
	if bounces == 0 {
		t.Error("no job met a worker that did not know its task: the run proves nothing")
	}
}

// reasons lists a job's history with the reason of each state.
func reasons(info *taskflow.JobInfo) string {
	var b strings.Builder
	for _, h := range info.History {
		fmt.Fprintf(&b, "\n\t%s %q", h.State.Name(), h.State.Why())
	}
	return b.String()
}
