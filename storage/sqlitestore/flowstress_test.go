package sqlitestore

import (
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/internal/flowstress"
)

// TestFlowControlUnderStress runs 2,000 jobs (500 under the race
// detector), to bound the time on a shared machine.
func TestFlowControlUnderStress(t *testing.T) {
	jobs := 2000
	if flowstress.Race {
		jobs = 500
	}
	flowstress.Run(t, newStore(t), flowstress.Config{Jobs: jobs, Timeout: 4 * time.Minute})
}
