package sqlitestore

import (
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/internal/flowstress"
)

// TestFlowControlUnderStress runs the flow-control stress test (random
// lease loss, workers stopping and starting) at its full size, or 2,000
// jobs under the race detector: SQLite's engine, Go translated from C,
// runs about 25 times slower under it (99 s against 4 s for 10,000 jobs).
// .ci/run also runs the full size without it.
func TestFlowControlUnderStress(t *testing.T) {
	var jobs int
	if flowstress.Race {
		jobs = 2000
	}
	flowstress.Run(t, newStore(t), flowstress.Config{Jobs: jobs, Timeout: 4 * time.Minute})
}

// TestFairness runs the flow-control fairness test: one tenant's backlog
// does not delay twenty small tenants (see flowstress.Fairness).
func TestFairness(t *testing.T) {
	flowstress.Fairness(t, newStore(t), flowstress.FairnessConfig{})
}

// TestFlowControlUnderStressWalking runs the flow-control stress test, at
// 2,000 jobs, on a store whose fair fetches always walk the partitions.
func TestFlowControlUnderStressWalking(t *testing.T) {
	flowstress.Run(t, newStore(t, walking()), flowstress.Config{Jobs: 2000, Timeout: 4 * time.Minute})
}
