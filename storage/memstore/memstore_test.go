package memstore_test

import (
	"testing"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store { return memstore.New() })
}

// requiredOnly is a store with the required part of the contract only: the
// interface hides every optional method of the memstore inside.
type requiredOnly struct{ storage.Store }

// TestConformanceOfTheRequiredPartAlone: a store that implements only
// storage.Store passes the suite; the optional areas skip.
func TestConformanceOfTheRequiredPartAlone(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return requiredOnly{memstore.New()} })
}

func BenchmarkContinuations(b *testing.B) {
	storagetest.BenchmarkContinuations(b, func(*testing.B) storage.Store { return memstore.New() })
}
