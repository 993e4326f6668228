package pgstore

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/internal/crashtest"
	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
)

// crashEnv names the schema the crash helper process works on; it is set
// only in that process.
const crashEnv = "TASKFLOW_CRASH_HELPER_SCHEMA"

const (
	crashJobs  = 5
	crashLease = 2 * time.Second
)

// crashTask registers the task of the crash test on reg. Each run records
// itself in the runs table, tagged with who ran it; in the helper process
// it then says so on stdout and blocks until the process is killed.
func crashTask(t testing.TB, reg *taskflow.Registry, pool *pgxpool.Pool, schema, who string) *taskflow.Task[int, struct{}] {
	runs := pgx.Identifier{schema, "crash_runs"}.Sanitize()
	task, err := taskflow.RegisterTask(reg, "crash-test", func(ctx context.Context, n int) (struct{}, error) {
		j, _ := taskflow.JobFromContext(ctx)
		if _, err := pool.Exec(ctx, "INSERT INTO "+runs+" (job_id, attempt, who) VALUES ($1, $2, $3)", j.ID, j.Attempt, who); err != nil {
			return struct{}{}, err
		}
		if who == "helper" {
			crashtest.Started(j.ID)
			time.Sleep(time.Minute) // until SIGKILL; the bound keeps a lost helper from lingering
		}
		return struct{}{}, nil
	})
	require.NoError(t, err)
	return task
}

func crashWorker(t testing.TB, s *Store, reg *taskflow.Registry) *taskflow.Worker {
	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{
		Registry: reg, Concurrency: crashJobs, LeaseDuration: crashLease,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	return w
}

// TestCrashHelper is the worker process of TestCrashRecovery; on its own it
// does nothing.
func TestCrashHelper(t *testing.T) {
	schema := os.Getenv(crashEnv)
	if schema == "" {
		t.Skip("the worker process of TestCrashRecovery")
	}
	pool := testPool(t)
	reg := taskflow.NewRegistry()
	crashTask(t, reg, pool, schema, "helper")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = crashWorker(t, New(pool, Schema(schema)), reg).Run(ctx)
}

// TestCrashRecovery kills a worker process with SIGKILL while it runs jobs,
// then checks that another worker completes every one of them, exactly
// once, within the lease recovery bound.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip("in the helper process")
	}
	pool := testPool(t)
	schema := newSchema(t, pool)
	ctx := testCtx(t)
	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	_, err := pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{schema, "crash_runs"}.Sanitize()+
		" (job_id uuid NOT NULL, attempt int NOT NULL, who text NOT NULL)")
	require.NoError(t, err)
	s := New(pool, Schema(schema))
	reg := taskflow.NewRegistry()
	task := crashTask(t, reg, pool, schema, "recovery")
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	handles, err := task.On(client).EnqueueMany(ctx, make([]int, crashJobs))
	require.NoError(t, err)

	// The helper process leases every job and blocks in all of them.
	killed := crashtest.StartAndKill(t, "TestCrashHelper", []string{crashEnv + "=" + schema}, crashJobs, crashLease/2)

	// A new worker finds the jobs leased to a dead process and runs them again.
	runCtx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- crashWorker(t, s, reg).Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-stopped) }()
	crashtest.RequireRecovered(t, func() (int64, error) {
		n, err := s.Count(ctx, "")
		return n[states.NameSucceeded], err
	}, crashJobs, crashLease, killed)

	for _, h := range handles {
		j, err := client.Job(ctx, h.ID)
		require.NoError(t, err)
		require.Equal(t, states.NameSucceeded, j.State.Name())
		require.Equal(t, 2, j.Attempt, "one attempt in the killed worker, one in the new one")
		require.Equal(t, 1, crashtest.SucceededEntries(j), "job %s history: %v", h.ID, j.History)
		rows, err := pool.Query(ctx, "SELECT who || ':' || attempt FROM "+pgx.Identifier{schema, "crash_runs"}.Sanitize()+" WHERE job_id = $1 ORDER BY attempt", h.ID)
		require.NoError(t, err)
		who, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"helper:1", "recovery:2"}, who, "runs of job %s", h.ID)
	}
	n, err := s.Count(ctx, "")
	require.NoError(t, err)
	var total int64
	for _, c := range n {
		total += c
	}
	require.Equal(t, map[states.Name]int64{states.NameSucceeded: crashJobs}, map[states.Name]int64{states.NameSucceeded: total}, "nothing lost, nothing extra: %v", n)
}

// TestJobControlAgainstRunningWork is the job-control stress test (package
// stresstest) on PostgreSQL.
func TestJobControlAgainstRunningWork(t *testing.T) {
	stresstest.Run(t, newStore(t), stresstest.Config{})
}

// TestHandleFromATransactionWorksAfterCommit: a handle returned by an
// enqueue inside the caller's transaction reads outside it, so it can wait
// for the job once the transaction has committed.
func TestHandleFromATransactionWorksAfterCommit(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	reg := taskflow.NewRegistry()
	double, err := taskflow.RegisterTask(reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	require.NoError(t, err)
	tx, err := s.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	c, err := taskflow.NewClient(s.WithTx(tx), taskflow.ClientOptions{})
	require.NoError(t, err)
	h, err := double.On(c).Enqueue(ctx, 21)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-done) }()
	n, err := h.Wait(ctx)
	require.NoError(t, err)
	require.Equal(t, 42, n)
	info, err := h.Job(ctx)
	require.NoError(t, err)
	require.Equal(t, states.NameSucceeded, info.State.Name())
}

// TestTraceContextTravelsThroughTheDatabase: a client and a worker that
// share only the database (each its own pool and tracing filter); the
// attempt's span is a child of the enqueue's span.
func TestTraceContextTravelsThroughTheDatabase(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "traced", func(_ context.Context, n int) (int, error) { return n, nil })
	require.NoError(t, err)
	client, err := taskflow.NewClient(s, taskflow.ClientOptions{Filters: []filters.Filter{taskflowotel.New(taskflowotel.Options{TracerProvider: tp})}})
	require.NoError(t, err)
	workerStore := New(testPool(t), Schema(s.cfg.schema)) // its own pool, as another process has
	w, err := taskflow.NewWorker(workerStore, taskflow.WorkerOptions{Registry: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Filters: []filters.Filter{taskflowotel.New(taskflowotel.Options{TracerProvider: tp})}})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-done) }()

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
