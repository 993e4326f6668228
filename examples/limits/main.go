// Command limits shows flow control: a fake external API allows 2
// concurrent calls per account and 10 calls a second overall. The task
// that calls it declares those limits (PartitionBy the account, a
// PartitionLimit of 2 running, a TaskLimit of 10 starts a second), and the
// store enforces them across every worker: here two workers of 20 slots
// each. One account floods the queue first; the others, enqueued after it,
// still start at once, since partitions are served round robin.
//
// It prints, per account, the highest concurrency and the most calls in
// any second that the API saw, and when the account's first call started.
//
//	go run ./examples/limits
//
// With TASKFLOW_DATABASE_URL set (postgres://...), it runs on PostgreSQL
// instead of in memory.
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// CallArgs are the arguments of one API call.
type CallArgs struct {
	Account string `json:"account"`
	N       int    `json:"n"`
}

// api is the fake external API: it records every call's account, start
// and end, and how many of each account run at once.
type api struct {
	mu      sync.Mutex
	running map[string]int
	peak    map[string]int
	starts  map[string][]time.Time
}

func (a *api) call(ctx context.Context, c CallArgs) (string, error) {
	a.mu.Lock()
	a.running[c.Account]++
	a.peak[c.Account] = max(a.peak[c.Account], a.running[c.Account])
	a.starts[c.Account] = append(a.starts[c.Account], time.Now())
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running[c.Account]--
		a.mu.Unlock()
	}()
	select {
	case <-time.After(300 * time.Millisecond): // the API's latency
		return fmt.Sprintf("%s#%d ok", c.Account, c.N), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// CallAPI is the task. Its options are the API's published limits.
var CallAPI = taskflow.Declare[CallArgs, string]("call-api",
	taskflow.PartitionBy(func(c CallArgs) string { return c.Account }),
	taskflow.PartitionLimit(taskflow.Limits{Concurrency: 2}),
	taskflow.TaskLimit(taskflow.Limits{Rate: 10, Per: time.Second}),
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func openStore(ctx context.Context) (storage.Store, func(), error) {
	url := os.Getenv("TASKFLOW_DATABASE_URL")
	if url == "" {
		return memstore.New(), func() {}, nil
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	if err := pgstore.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, nil, err
	}
	return pgstore.New(pool), pool.Close, nil
}

func run() error {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	store, closeStore, err := openStore(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	a := &api{running: map[string]int{}, peak: map[string]int{}, starts: map[string][]time.Time{}}
	reg := taskflow.NewRegistry()
	if err := CallAPI.Bind(reg, a.call); err != nil {
		return err
	}
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Registry: reg})
	if err != nil {
		return err
	}

	// One account floods the queue, then three others enqueue a few calls.
	var calls []CallArgs
	for i := range 20 {
		calls = append(calls, CallArgs{Account: "acme", N: i})
	}
	for _, acct := range []string{"globex", "initech", "umbrella"} {
		for i := range 4 {
			calls = append(calls, CallArgs{Account: acct, N: i})
		}
	}
	begin := time.Now()
	handles, err := CallAPI.On(client).EnqueueMany(ctx, calls)
	if err != nil {
		return err
	}

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var wg sync.WaitGroup
	for i := range 2 {
		w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Concurrency: 20, Logger: quiet, ID: fmt.Sprintf("worker-%d", i)})
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				log.Print(err)
			}
		})
	}
	for _, h := range handles {
		if _, err := h.Wait(ctx); err != nil {
			return err
		}
	}
	took := time.Since(begin)
	stop()
	wg.Wait()

	a.mu.Lock()
	defer a.mu.Unlock()
	var all []time.Time
	fmt.Printf("%-9s %5s %15s %16s %12s\n", "ACCOUNT", "CALLS", "MAX CONCURRENT", "MAX CALLS IN 1S", "FIRST START")
	for _, acct := range []string{"acme", "globex", "initech", "umbrella"} {
		ts := a.starts[acct]
		all = append(all, ts...)
		fmt.Printf("%-9s %5d %15d %16d %12s\n", acct, len(ts), a.peak[acct], mostInWindow(ts, time.Second),
			ts[0].Sub(begin).Round(time.Millisecond))
	}
	fmt.Printf("%-9s %5d %15s %16d\n", "overall", len(all), "-", mostInWindow(all, time.Second))
	fmt.Printf("limits: 2 concurrent per account, 10 starts a second overall (at most 10 in any second); %d calls took %v\n",
		len(all), took.Round(10*time.Millisecond))
	return nil
}

// mostInWindow returns the most times of ts within any window of length d.
func mostInWindow(ts []time.Time, d time.Duration) int {
	ts = slices.SortedFunc(slices.Values(ts), time.Time.Compare)
	most := 0
	for i := range ts {
		n := 0
		for _, u := range ts[i:] {
			if u.Sub(ts[i]) >= d {
				break
			}
			n++
		}
		most = max(most, n)
	}
	return most
}
