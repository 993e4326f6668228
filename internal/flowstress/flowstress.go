// Package flowstress runs flow control under load on any store that
// implements storage.FlowControl: workers serve jobs of many partitions,
// each under a concurrency limit and a rate limit, while leases are lost at
// random and workers stop and new ones start.
//
// Checked at the end: every job succeeded (nothing lost or stuck); no
// partition ever had more attempts running than its limit, counting the
// attempts that held their lease to the end (an attempt whose lease was
// taken gave its slot back when it lost it, and may still run a moment);
// and in any window of the rate limit's period, no partition started more
// jobs than the rate plus the burst, counting every lease in the jobs'
// histories.
//
// Fairness, in fairness.go, checks that one tenant's backlog does not
// delay small tenants: round robin between partitions, measured by an
// ordering bound and Jain's index.
//
// A test rig: only taskflow's own tests import it.
package flowstress

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
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
	// Jobs to run. TASKFLOW_FLOW_STRESS_JOBS overrides it. Default: 10,000.
	Jobs int
	// Partitions the jobs are spread over. Default: 200.
	Partitions int
	// Workers serving the store at once. Default: 4.
	Workers int
	// Timeout bounds the run. Default: 2 minutes.
	Timeout time.Duration
}

// The limits every partition runs under.
var (
	Concurrency = taskflow.Limits{Concurrency: 2}
	Rate        = taskflow.Limits{Rate: 10, Per: 200 * time.Millisecond, Burst: 2}
)

type args struct {
	Partition string
	N         int
}

type attempt struct {
	id         uuid.UUID
	n          int
	partition  string
	start, end time.Time
}

// Run runs the test on store, which must implement storage.FlowControl.
func Run(t *testing.T, store storage.Store, cfg Config) {
	if cfg.Jobs <= 0 {
		cfg.Jobs = 10_000
	}
	if v := os.Getenv("TASKFLOW_FLOW_STRESS_JOBS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("TASKFLOW_FLOW_STRESS_JOBS=%q: %v", v, err)
		}
		cfg.Jobs = n
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 200
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()

	var (
		mu       sync.Mutex
		attempts []*attempt
	)
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "flow-stress", func(ctx context.Context, a args) (int, error) {
		job, _ := taskflow.JobFromContext(ctx)
		rec := &attempt{id: job.ID, n: job.Attempt, partition: a.Partition, start: time.Now()}
		select {
		case <-time.After(time.Duration(rand.IntN(3000)) * time.Microsecond):
		case <-ctx.Done():
		}
		rec.end = time.Now()
		mu.Lock()
		attempts = append(attempts, rec)
		mu.Unlock()
		return a.N, ctx.Err()
	},
		taskflow.PartitionBy(func(a args) string { return a.Partition }),
		taskflow.WithRetry(filters.Retry{MaxRetries: 1000, Delay: func(int) time.Duration { return 0 }}),
		taskflow.PartitionLimit(taskflow.Limits{Concurrency: Concurrency.Concurrency, Rate: Rate.Rate, Per: Rate.Per, Burst: Rate.Burst}),
	)
	if err != nil {
		t.Fatal(err)
	}
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	start := func(i int) context.CancelFunc {
		w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{
			Registry: reg, Concurrency: 16, Logger: quiet, ID: fmt.Sprintf("flow-stress-%d", i),
			LeaseDuration: 3 * time.Second, HeartbeatInterval: 50 * time.Millisecond, WorkerTimeout: time.Second,
			ShutdownTimeout: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(wctx); err != nil {
				t.Errorf("worker %d: %v", i, err)
			}
		}()
		return stop
	}
	stops := make([]context.CancelFunc, cfg.Workers)
	for i := range stops {
		stops[i] = start(i)
	}
	defer func() {
		for _, stop := range stops {
			stop()
		}
		wg.Wait()
	}()

	all := make([]args, cfg.Jobs)
	for i := range all {
		all[i] = args{Partition: "p" + strconv.Itoa(rand.IntN(cfg.Partitions)), N: i}
	}
	var handles []*taskflow.Handle[int]
	for batch := range slices.Chunk(all, 500) {
		hs, err := task.On(client).EnqueueMany(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, hs...)
	}

	// Trouble until every job succeeded: leases taken away at random (as
	// if they expired), workers stopped and replaced.
	done := make(chan struct{})
	go func() {
		defer close(done)
		next := cfg.Workers
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(20+rand.IntN(80)) * time.Millisecond):
			}
			if left(ctx, store, handles[len(handles)-1].ID) && finishedAll(ctx, client, handles) {
				return
			}
			if i%2 == 0 {
				_, _ = store.ReclaimExpired(ctx, &storage.ReclaimParams{Now: time.Now().Add(time.Hour), Limit: 1 + rand.IntN(3)})
				continue
			}
			k := rand.IntN(len(stops))
			stops[k]()
			stops[k] = start(next)
			next++
		}
	}()
	<-done
	if ctx.Err() != nil {
		counts := map[states.Name]int{}
		for _, h := range handles {
			if j, err := store.Get(context.Background(), h.ID); err == nil {
				counts[j.State]++
			}
		}
		t.Fatalf("not every job succeeded within %v: lost or stuck jobs; by state: %v", cfg.Timeout, counts)
	}

	// Concurrency: the attempts that held their lease to the end (the
	// job's last attempt, which succeeded) never overlap more than the
	// limit in one partition.
	final := map[uuid.UUID]*storage.Job{}
	for _, h := range handles {
		j, err := store.Get(ctx, h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != states.NameSucceeded {
			t.Fatalf("job %s is %s", j.ID, j.State)
		}
		final[j.ID] = j // Get returns the history
	}
	byPartition := map[string][]*attempt{}
	for _, a := range attempts {
		if j := final[a.id]; j != nil && j.Attempt == a.n {
			byPartition[a.partition] = append(byPartition[a.partition], a)
		}
	}
	for p, as := range byPartition {
		if n := peak(as); n > Concurrency.Concurrency {
			t.Errorf("partition %s: %d attempts ran at once, limit %d", p, n, Concurrency.Concurrency)
		}
	}

	// Rate: every lease (a Processing entry of the history) counts.
	starts := map[string][]time.Time{}
	for _, h := range handles {
		j := final[h.ID]
		for _, r := range j.History {
			if r.State == states.NameProcessing {
				starts[j.Partition] = append(starts[j.Partition], r.At)
			}
		}
	}
	for p, ts := range starts {
		slices.SortFunc(ts, time.Time.Compare)
		for i := range ts {
			n := 0
			for _, u := range ts[i:] {
				if u.Sub(ts[i]) >= Rate.Per {
					break
				}
				n++
			}
			if n > Rate.Rate+Rate.Burst {
				t.Errorf("partition %s: %d starts within %v from %v, limit %d+%d", p, n, Rate.Per, ts[i], Rate.Rate, Rate.Burst)
				break
			}
		}
	}
	t.Logf("%d jobs over %d partitions, %d attempts recorded", cfg.Jobs, cfg.Partitions, len(attempts))
}

// left reports whether the last job enqueued finished: a cheap check
// before finishedAll.
func left(ctx context.Context, s storage.Store, id uuid.UUID) bool {
	j, err := s.Get(ctx, id)
	return err == nil && j.State == states.NameSucceeded
}

func finishedAll(ctx context.Context, c *taskflow.Client, hs []*taskflow.Handle[int]) bool {
	for _, h := range hs {
		info, err := c.Job(ctx, h.ID)
		if err != nil || info.State.Name() != states.NameSucceeded {
			return false
		}
	}
	return true
}

// peak returns the most attempts running at once.
func peak(as []*attempt) int {
	type edge struct {
		at time.Time
		d  int
	}
	var es []edge
	for _, a := range as {
		es = append(es, edge{a.start, 1}, edge{a.end, -1})
	}
	slices.SortFunc(es, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.d - b.d // an end before a start at the same instant
	})
	n, most := 0, 0
	for _, e := range es {
		n += e.d
		most = max(most, n)
	}
	return most
}
