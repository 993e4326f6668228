package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/storagetest"
)

// testPool connects to TASKFLOW_TEST_DATABASE_URL, which must name a
// loopback host. Without it the test is skipped, or fails when CI=true. The
// pool's application_name is unique, so a test can find its own backends.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv("TASKFLOW_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TASKFLOW_TEST_DATABASE_URL is not set; CI must provide PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		}
		t.Skip("PostgreSQL tests skipped: set TASKFLOW_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them")
	}
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	hosts := []string{cfg.ConnConfig.Host}
	for _, f := range cfg.ConnConfig.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		ip := net.ParseIP(h)
		require.True(t, h == "localhost" || ip != nil && ip.IsLoopback(), "TASKFLOW_TEST_DATABASE_URL host %q is not a loopback address", h)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "taskflow-test-" + randomHex()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newSchema returns a fresh schema name on pool, dropped after the test.
func newSchema(t testing.TB, pool *pgxpool.Pool) string {
	name := "tftest_" + randomHex()
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		require.NoError(t, err)
	})
	return name
}

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
