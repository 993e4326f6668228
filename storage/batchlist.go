package storage

import (
	"context"

	"github.com/google/uuid"
)

// BatchLister is implemented by stores that keep batches ([Batches]) and
// list them, for a dashboard.
type BatchLister interface {
	// ListBatches returns the IDs of the batches that have jobs, newest
	// first (batch IDs are UUIDv7, ordered by creation time), skipping
	// offset of them and returning at most limit.
	ListBatches(ctx context.Context, offset, limit int) ([]uuid.UUID, error)
}
