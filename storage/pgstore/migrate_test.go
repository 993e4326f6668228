package pgstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

func schemaVersion(t *testing.T, s *Store) int {
	var v int
	require.NoError(t, s.pool.QueryRow(testCtx(t), s.q.version).Scan(&v))
	return v
}

func TestMigrateIsIdempotent(t *testing.T) {
	s := newStore(t) // migrated once
	require.NoError(t, Migrate(testCtx(t), s.pool, Schema(s.cfg.schema)))
	require.Equal(t, latestVersion, schemaVersion(t, s))
	_, err := s.Get(testCtx(t), uuid.New())
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func TestMigrateConcurrently(t *testing.T) {
	pool := testPool(t)
	schema := newSchema(t, pool)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = Migrate(testCtx(t), pool, Schema(schema)) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, latestVersion, schemaVersion(t, New(pool, Schema(schema))))
}

func TestUnmigratedSchemaNamesTheFix(t *testing.T) {
	pool := testPool(t)
	tests := []struct {
		name    string
		prepare func(schema string) // makes the schema missing or too old
		want    string
	}{
		{"missing", func(string) {}, "has no taskflow tables"},
		{"too old", func(schema string) {
			q := pgx.Identifier{schema}.Sanitize()
			_, err := pool.Exec(testCtx(t), "CREATE SCHEMA "+q+"; CREATE TABLE "+q+".schema_migrations (version integer PRIMARY KEY)")
			require.NoError(t, err)
		}, "is at version 0, need"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			schema := newSchema(t, pool)
			tc.prepare(schema)
			s := New(pool, Schema(schema))
			calls := map[string]func() error{
				"Create": func() error {
					return create(testCtx(t), s, &storage.Job{ID: uuid.New(), Task: "t", Queue: "q", State: "enqueued"})
				},
				"Fetch": func() error {
					_, err := s.Fetch(testCtx(t), &storage.FetchParams{Queues: []string{"q"}, Limit: 1})
					return err
				},
				"Get":       func() error { _, err := s.Get(testCtx(t), uuid.New()); return err },
				"Subscribe": func() error { _, err := s.Subscribe(testCtx(t)); return err },
			}
			for name, call := range calls {
				err := call()
				require.ErrorIs(t, err, ErrNotMigrated, name)
				require.ErrorContains(t, err, tc.want, name)
				require.ErrorContains(t, err, "run `taskflow migrate` or pgstore.Migrate", name)
			}
			require.NoError(t, Migrate(testCtx(t), pool, Schema(schema)))
			require.NoError(t, calls["Create"](), "a running store works once the schema is migrated")
		})
	}
}

func TestMigrateHonoursCanceledContext(t *testing.T) {
	pool := testPool(t)
	c, cancel := context.WithCancel(context.Background())
	cancel()
	require.Error(t, Migrate(c, pool, Schema(newSchema(t, pool))))
}

// A database at version 1 with jobs in it upgrades in place: its jobs keep
// working and get no parent, batch or unique key.
func TestMigrateUpgradesVersion1(t *testing.T) {
	pool := testPool(t)
	schema := newSchema(t, pool)
	q := pgx.Identifier{schema}.Sanitize()
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, "CREATE SCHEMA "+q+"; CREATE TABLE "+q+".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, strings.ReplaceAll(migrations[0], "{schema}", q))
	require.NoError(t, err)
	id := uuid.New()
	_, err = pool.Exec(ctx, "INSERT INTO "+q+".schema_migrations (version) VALUES (1); INSERT INTO "+q+`.jobs
		(id, task, args, queue, state, state_data, created_at, updated_at, enqueued_seq) VALUES ('`+id.String()+`', 't', '', 'default', 'enqueued', '{}', now(), now(), 1)`)
	require.NoError(t, err)

	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	s := New(pool, Schema(schema))
	j, err := s.Get(ctx, id)
	require.NoError(t, err)
	require.Equal(t, uuid.Nil, j.ParentID)
	require.Equal(t, "", j.UniqueKey)
	f, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "o", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, f, 1)
}
