package pgstore

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
)

// TestFairness runs the flow-control fairness test: one tenant's backlog
// (100,000 jobs, 10,000 under the race detector,
// TASKFLOW_FAIRNESS_BIG_JOBS to change it) does not delay twenty small
// tenants of 50 jobs each (see flowstress.Fairness).
func TestFairness(t *testing.T) {
	flowstress.Fairness(t, newStore(t), flowstress.FairnessConfig{})
}

// BenchmarkFairness measures, per run of flowstress.Fairness, the time
// from twenty small tenants' enqueue (50 jobs each) to the start of the
// last of their jobs, behind one tenant's 100,000 waiting jobs, at the
// default worker settings, and Jain's index over the completions made
// while every tenant had work waiting. Run it with -benchtime 1x; each op
// is one whole run, setup included.
func BenchmarkFairness(b *testing.B) {
	var last, jain float64
	for range b.N {
		r := flowstress.Fairness(b, newStore(b), flowstress.FairnessConfig{})
		last += r.LastSmallStart.Seconds()
		jain += r.Jain
	}
	b.ReportMetric(last/float64(b.N), "last-small-start-s")
	b.ReportMetric(jain/float64(b.N), "jain")
}
