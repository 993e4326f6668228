package redisstore

import (
	"testing"

	"github.com/taskflow-go/taskflow/internal/flowstress"
)

// TestFairness runs the flow-control fairness test (see
// flowstress.Fairness) on a plain and on a sharded store.
func TestFairness(t *testing.T) {
	client := testClient(t)
	tests := []struct {
		name  string
		store func(t *testing.T) *Store
	}{
		{"Plain", func(t *testing.T) *Store { return newStore(t, client) }},
		{"Sharded", func(t *testing.T) *Store { return newShardedStore(t, client, 3) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flowstress.Fairness(t, tc.store(t), flowstress.FairnessConfig{})
		})
	}
}
