package pgstore

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/storage"
)

// TestFairness runs the flow-control fairness test: one tenant's backlog
// (100,000 jobs, 10,000 under the race detector,
// TASKFLOW_FAIRNESS_BIG_JOBS to change it) does not delay twenty small
// tenants of 50 jobs each (see flowstress.Fairness).
func TestFairness(t *testing.T) {
	flowstress.Fairness(t, newStore(t), flowstress.FairnessConfig{})
}

// BenchmarkFairness measures flowstress.Fairness behind one tenant's
// 100,000 waiting jobs at the default worker settings; run it with
// -benchtime 1x (see flowstress.BenchFairness).
func BenchmarkFairness(b *testing.B) {
	flowstress.BenchFairness(b, func(tb testing.TB) storage.Store { return newStore(tb) })
}
