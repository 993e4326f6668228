package taskflow_test

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/stresstest"
	"github.com/taskflow-go/taskflow/storage/memstore"
)

// TestJobControlAgainstRunningWork requeues, deletes, reschedules and fails
// jobs while they run on several workers, and checks that nothing is lost,
// stuck or acted on by a stale attempt (see package stresstest). Set
// TASKFLOW_STRESS=2m for a longer soak.
func TestJobControlAgainstRunningWork(t *testing.T) {
	t.Parallel()
	stresstest.Run(t, memstore.New(), stresstest.Config{})
}

// TestRollingDeploy runs workers of two releases, each knowing a task the
// other does not, through a rolling deploy back and forth while jobs fail
// and retry (see package stresstest): bounces spend no attempt, and every
// job runs.
func TestRollingDeploy(t *testing.T) {
	t.Parallel()
	stresstest.RollingDeploy(t, memstore.New(), stresstest.Config{})
}
