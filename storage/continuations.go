package storage

import (
	"context"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
)

// Continuations is implemented by stores that keep Awaiting jobs (ParentID
// set) and resolve them when their parent finishes, in the same atomic
// step (see Store.Transition), and resolve at once in Create an Awaiting
// job whose parent has already finished. taskflow gives an Awaiting job
// only to a store that implements it.
type Continuations interface {
	// ResolvesContinuations marks the capability; it does nothing.
	ResolvesContinuations()
}

// Batches is implemented by stores that keep batches (Job.BatchID): a
// batch finishes when every job of it has, and resolves the continuations
// awaiting it (with [Continuations]); BatchProgress reports it. A batch is
// the jobs stored with its ID: jobs held back by their unique key (see
// [Store.Create]) are not in it, and a batch whose every job was held back
// does not exist (continuations of it are ErrNotFound). taskflow gives a
// job with a BatchID only to a store that implements it.
type Batches interface {
	// BatchProgress counts the jobs of a batch by state. A batch with no
	// jobs returns ErrNotFound.
	BatchProgress(ctx context.Context, batchID uuid.UUID) (map[states.Name]int64, error)
}
