package memstore

import (
	"context"

	"github.com/taskflow-go/taskflow/storage"
)

// The URL "memory:" opens a new, empty store (see storage.Open); every
// Open returns another one.
func init() {
	storage.Register("memory", func(context.Context, string) (storage.OpenedStore, error) { return New(), nil })
}

// Close does nothing: a Store holds no resources. It makes a Store a
// [storage.OpenedStore].
func (s *Store) Close() error { return nil }
