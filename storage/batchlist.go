package storage

import (
	"context"

	"github.com/google/uuid"
)

// BatchListParams are the arguments of [BatchLister.ListBatches]. A
// batch's place in the list is its ID, so the ID of a batch a call
// returned is the cursor that continues the list from there.
type BatchListParams struct {
	// Cursor, when not Nil, continues the list from a batch's place: the
	// list starts after that batch, whether it still has jobs or not.
	Cursor uuid.UUID
	// Backward walks the list backwards: from Cursor (exclusive), or from
	// the end (the oldest batch) when Cursor is Nil, towards the newest.
	// The batches come in the order walked, the nearest first, as with
	// ListParams.Backward.
	Backward bool
	// Limit is the most batches to return; zero means no limit.
	Limit int
}

// BatchLister is implemented by stores that keep batches ([Batches]) and
// list them, for a dashboard.
type BatchLister interface {
	// ListBatches returns the IDs of the batches that have jobs, newest
	// first (batch IDs are UUIDv7, ordered by creation time), from p's
	// place. Each page costs about the same at any depth.
	ListBatches(ctx context.Context, p *BatchListParams) ([]uuid.UUID, error)
}
