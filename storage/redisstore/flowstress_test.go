package redisstore

import (
	"testing"
	"time"

	"github.com/taskflow-go/taskflow/internal/flowstress"
	"github.com/taskflow-go/taskflow/storage"
)

// TestFlowControlUnderStress runs the flow-control stress test (random
// lease loss, workers stopping and starting) on a plain and on a sharded
// store.
func TestFlowControlUnderStress(t *testing.T) {
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
			flowstress.Run(t, tc.store(t), flowstress.Config{Timeout: 3 * time.Minute})
		})
	}
}
