package redisstore

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/storage"
)

// TestFairness runs the flow-control fairness test (see
// flowstress.Fairness) on a plain and on a sharded store.
func TestFairness(t *testing.T) {
	client := testClient(t)
	tests := []struct {
		name  string
		store func(t *testing.T) storage.Store
	}{
		{"Plain", func(t *testing.T) storage.Store { return newStore(t, client) }},
		{"Sharded", func(t *testing.T) storage.Store { return newShardedStore(t, client, 3) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flowstress.Fairness(t, tc.store(t), flowstress.FairnessConfig{})
		})
	}
}

// BenchmarkFairness measures flowstress.Fairness behind one tenant's
// 100,000 waiting jobs on a plain store; run it with -benchtime 1x (see
// flowstress.BenchFairness).
func BenchmarkFairness(b *testing.B) {
	client := testClient(b)
	flowstress.BenchFairness(b, func(tb testing.TB) (storage.Store, flowstress.FairnessConfig) {
		return newStore(tb, client), flowstress.FairnessConfig{}
	})
}
