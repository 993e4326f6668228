package pgstore

import (
	"context"
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/storage"
)

// TestFairness runs the flow-control fairness test: one tenant's backlog
// (100,000 jobs, 10,000 under the race detector,
// TASKFLOW_FAIRNESS_BIG_JOBS to change it) does not delay twenty small
// tenants of 50 jobs each (see flowstress.Fairness).
func TestFairness(t *testing.T) {
	s, cfg := fairnessSetup(t)
	flowstress.Fairness(t, s, cfg)
}

// BenchmarkFairness measures flowstress.Fairness behind one tenant's
// 100,000 waiting jobs at the default worker settings; run it with
// -benchtime 1x (see flowstress.BenchFairness). "analyzed" analyzes the
// jobs table once the backlog is stored, as autovacuum would on a server
// at its default settings (this machine's runs without it); "stale"
// analyzes it empty, before the backlog, as a server without autovacuum,
// or one between a bulk enqueue and its autoanalyze, would plan.
func BenchmarkFairness(b *testing.B) {
	b.Run("analyzed", func(b *testing.B) { flowstress.BenchFairness(b, fairnessSetup) })
	b.Run("stale", func(b *testing.B) {
		flowstress.BenchFairness(b, func(tb testing.TB) (storage.Store, flowstress.FairnessConfig) {
			s := newStore(tb)
			analyze(context.Background(), tb, s)
			return s, flowstress.FairnessConfig{}
		})
	})
}

// fairnessSetup returns a new store and a run that analyzes the jobs
// table once the backlog is stored, as autovacuum would on a server at
// its default settings (this machine's runs without it).
func fairnessSetup(tb testing.TB) (storage.Store, flowstress.FairnessConfig) {
	s := newStore(tb)
	return s, flowstress.FairnessConfig{Backlogged: func(ctx context.Context) { analyze(ctx, tb, s) }}
}

// analyze updates the statistics of s's jobs table.
func analyze(ctx context.Context, tb testing.TB, s *Store) {
	if _, err := s.pool.Exec(ctx, "ANALYZE "+s.cfg.schema+".jobs"); err != nil {
		tb.Fatal(err)
	}
}
