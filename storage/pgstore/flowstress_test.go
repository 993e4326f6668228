package pgstore

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
)

// TestFlowControlUnderStress runs 2,000 jobs by default, to bound the time
// on a shared machine; TASKFLOW_FLOW_STRESS_JOBS=10000 runs the full size.
func TestFlowControlUnderStress(t *testing.T) {
	flowstress.Run(t, newStore(t), flowstress.Config{Jobs: 2000})
}
