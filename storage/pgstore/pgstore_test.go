package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/internal/codectest"
	"github.com/taskflow-go/taskflow/internal/pgtest"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// testPool connects to the test database (see pgtest.Pool).
func testPool(t testing.TB) *pgxpool.Pool { return pgtest.Pool(t) }

// newSchema returns a fresh schema name on pool, dropped after the test.
func newSchema(t testing.TB, pool *pgxpool.Pool) string { return pgtest.Schema(t, pool) }

// newStore returns a store on a fresh, migrated schema.
func newStore(t testing.TB, opts ...Option) *Store {
	pool := testPool(t)
	opts = append([]Option{Schema(newSchema(t, pool))}, opts...)
	require.NoError(t, Migrate(context.Background(), pool, opts...))
	return New(pool, opts...)
}

func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// create stores jobs and returns only the error.
func create(ctx context.Context, s *Store, jobs ...*storage.Job) error {
	_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
	return err
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t) })
}

// TestCodecEndToEnd runs tasks with a non-JSON codec (see package
// codectest).
func TestCodecEndToEnd(t *testing.T) {
	codectest.Run(t, newStore(t))
}
