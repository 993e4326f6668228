package pgstore

import (
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/internal/flowstress"
)

// TestFlowControlUnderStress runs the flow-control stress test (random
// lease loss, workers stopping and starting) at its full size.
func TestFlowControlUnderStress(t *testing.T) {
	flowstress.Run(t, newStore(t), flowstress.Config{Timeout: 4 * time.Minute})
}
