package memstore_test

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/storage/memstore"
)

// TestFairness runs the flow-control fairness test: one tenant's backlog
// does not delay twenty small tenants (see flowstress.Fairness).
func TestFairness(t *testing.T) {
	flowstress.Fairness(t, memstore.New(), flowstress.FairnessConfig{})
}
