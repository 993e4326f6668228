package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// planNode is the part of an EXPLAIN (FORMAT JSON) node that the check reads.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Alias    string     `json:"Alias"`
	Loops    float64    `json:"Actual Loops"`
	Plans    []planNode `json:"Plans"`
}

// rescanned returns the nodes of p that read a CTE, a function result or a
// materialized row set more than a few times: once per row of another
// input, which makes the statement quadratic in its batch size.
func (p planNode) rescanned() []string {
	var out []string
	switch p.NodeType {
	case "CTE Scan", "Function Scan", "Materialize":
		if p.Loops > 3 {
			out = append(out, fmt.Sprintf("%s %s, %.0f loops", p.NodeType, p.Alias, p.Loops))
		}
	}
	for _, c := range p.Plans {
		out = append(out, c.rescanned()...)
	}
	return out
}

// planPool is a pool whose sessions report the plan of every statement
// they run, as executed, through fn.
func planPool(t *testing.T, mode string, fn func(query string, plan planNode)) *pgxpool.Pool {
	pool := testPool(t)
	if _, err := pool.Exec(testCtx(t), `LOAD 'auto_explain'`); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("auto_explain cannot be loaded: %v", err)
		}
		t.Skipf("plan check skipped: auto_explain cannot be loaded for this database user: %v", err)
	}
	cfg := pool.Config()
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `LOAD 'auto_explain';
SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_timing = off;
SET auto_explain.log_format = json; SET auto_explain.log_level = notice; SET plan_cache_mode = `+mode)
		return err
	}
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		_, js, ok := strings.Cut(n.Message, "plan:\n")
		if !ok {
			return
		}
		var e struct {
			Query string   `json:"Query Text"`
			Plan  planNode `json:"Plan"`
		}
		if err := json.Unmarshal([]byte(js), &e); err != nil {
			t.Errorf("auto_explain output: %v", err)
			return
		}
		fn(e.Query, e.Plan)
	}
	plans, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(plans.Close)
	return plans
}

// Every statement that works on a batch of jobs must stay linear in the
// batch size under both the custom plans of a statement's first runs and
// the generic plan used after them. CTE row counts are estimated at one or
// ten whatever the batch, so a join or IN between two of them can be
// planned as a nested loop: a 1,000-job fetch written that way took 60 ms
// instead of 3. The plans are checked as executed, through auto_explain.
func TestPlansStayLinearInBatchSize(t *testing.T) {
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		t.Run(mode, func(t *testing.T) {
			var (
				mu   sync.Mutex
				seen = map[string]bool{}
				bad  []string
			)
			pool := planPool(t, mode, func(query string, plan planNode) {
				mu.Lock()
				defer mu.Unlock()
				seen[query] = true
				if r := plan.rescanned(); len(r) > 0 {
					bad = append(bad, fmt.Sprintf("%v in\n%s", r, query))
				}
			})
			schema := newSchema(t, pool)
			require.NoError(t, Migrate(testCtx(t), pool, Schema(schema)))
			s := New(pool, Schema(schema))
			runBatchWorkload(t, s, 200)
			mu.Lock()
			defer mu.Unlock()
			require.Empty(t, bad, "quadratic plans")
			for name, q := range map[string]string{
				"create": s.q.create, "fetch": s.q.fetch, "transition": s.q.transition, "transitionPlain": s.q.transitionPlain,
				"promote": s.q.promote,
				"reclaim": s.q.reclaim, "resolve": s.q.resolve, "removeDead": s.q.removeDead, "prune": s.q.prune,
				"createUnique": s.q.createUnique, "await": s.q.await,
			} {
				require.True(t, seen[q], "the workload ran no %s statement", name)
			}
		})
	}
}

// runBatchWorkload takes n jobs through every statement that handles jobs
// in batches.
func runBatchWorkload(t *testing.T, s *Store, n int) {
	ctx := testCtx(t)
	base := time.Now().UTC().Truncate(time.Microsecond)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	jobs := func(mod func(i int, j *storage.Job)) []*storage.Job {
		out := make([]*storage.Job, n)
		for i := range out {
			j := &storage.Job{ID: uuid.Must(uuid.NewV7()), Task: "t", Args: []byte(`{}`), Queue: "default",
				State: states.NameEnqueued, StateData: []byte(`{"queue":"default"}`), CreatedAt: base}
			if mod != nil {
				mod(i, j)
			}
			out[i] = j
		}
		return out
	}
	fetch := func(now time.Time) []*storage.Job {
		f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: n, Owner: "w", LeaseFor: time.Minute, Now: now})
		require.NoError(t, err)
		require.Len(t, f, n)
		return f
	}
	transition := func(now time.Time, f []*storage.Job, tr func(j *storage.Job) storage.Transition) {
		ts := make([]storage.Transition, len(f))
		for i, j := range f {
			ts[i] = tr(j)
		}
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: ts, Now: now})
		require.NoError(t, err)
		for _, e := range errs {
			require.NoError(t, e)
		}
	}

	parent := jobs(nil)[0]
	parent.Queue = "parent"
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: append(jobs(nil), parent), Now: base})
	require.NoError(t, err)
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: jobs(func(i int, j *storage.Job) {
		j.State, j.StateData, j.ParentID = states.NameAwaiting, []byte(`{"on":"success"}`), parent.ID
	}), Now: base})
	require.NoError(t, err)
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: jobs(func(i int, j *storage.Job) {
		j.UniqueKey, j.Queue = fmt.Sprint("key-", i), "unique"
	}), Now: base})
	require.NoError(t, err)

	// A retry: Failed traversed on the way to Scheduled, then promoted.
	f := fetch(at(time.Second))
	transition(at(2*time.Second), f, func(j *storage.Job) storage.Transition {
		return storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameScheduled, RunAt: at(3 * time.Second),
			Data: []byte(`{}`), Traversed: []storage.StateRecord{{State: states.NameFailed, Data: []byte(`{}`), At: at(2 * time.Second)}}}
	})
	r, err := s.PromoteDue(ctx, &storage.PromoteParams{Now: at(3 * time.Second), Limit: n})
	require.NoError(t, err)
	require.Equal(t, n, r.Promoted)

	// An expired lease, reclaimed.
	fetch(at(4 * time.Second))
	reclaimed, err := s.ReclaimExpired(ctx, &storage.ReclaimParams{Now: at(2 * time.Minute), Limit: n})
	require.NoError(t, err)
	require.Equal(t, n, reclaimed)

	// A dead worker's jobs, requeued.
	fetch(at(3 * time.Minute))
	_, err = s.ExtendLeases(ctx, &storage.ExtendParams{Owner: "w", Worker: &storage.WorkerInfo{ID: "w", Host: "h"}})
	require.NoError(t, err)
	time.Sleep(2 * time.Millisecond)
	dead, err := s.RemoveDeadWorkers(ctx, time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, []string{"w"}, dead)

	// Success, with expiry; the parent's success resolves its continuations.
	f = fetch(at(4 * time.Minute))
	transition(at(5*time.Minute), f, func(j *storage.Job) storage.Transition {
		return storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: at(6 * time.Minute)}
	})
	p, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"parent"}, Limit: 1, Owner: "w", LeaseFor: time.Minute, Now: at(5 * time.Minute)})
	require.NoError(t, err)
	require.Len(t, p, 1)
	require.Equal(t, parent.ID, p[0].ID)
	transition(at(5*time.Minute), p, func(j *storage.Job) storage.Transition {
		return storage.Transition{ID: j.ID, Token: j.LeaseToken, To: states.NameSucceeded, Data: []byte(`{}`), ExpireAt: at(6 * time.Minute)}
	})
	fetch(at(6 * time.Minute)) // the continuations, now Enqueued

	pruned, err := s.DeleteExpired(ctx, &storage.PruneParams{Now: at(7 * time.Minute), Limit: 10 * n})
	require.NoError(t, err)
	require.Equal(t, n+1, pruned)
}
