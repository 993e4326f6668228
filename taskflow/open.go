package taskflow

import (
	"context"

	"github.com/taskflow-go/taskflow/storage"
)

// Open opens the store that url names (see storage.Open): "memory:",
// "sqlite:///var/lib/app/jobs.db", "postgres://user@host/db",
// "redis://host:6379/0". The backend's package must be imported, blank if
// need be, for its scheme to be known: package taskflow imports no
// backend. Close the store when done.
func Open(ctx context.Context, url string) (storage.OpenedStore, error) {
	return storage.Open(ctx, url)
}
