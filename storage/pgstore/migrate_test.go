package pgstore

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
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
				"Subscribe": func() error { _, err := s.Subscribe(testCtx(t), storage.TopicAll); return err },
				"Worker.Run": func() error { // returns at once, instead of logging forever
					w, err := taskflow.NewWorker(s, taskflow.WorkerOptions{Registry: taskflow.NewRegistry()})
					if err != nil {
						return err
					}
					return w.Run(testCtx(t))
				},
			}
			for name, call := range calls {
				err := call()
				require.ErrorIs(t, err, ErrNotMigrated, name)
				require.ErrorContains(t, err, tc.want, name)
				require.ErrorContains(t, err, "run `taskflow migrate up` or pgstore.Migrate", name)
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

// schemaAt creates a schema at the given version and returns its name
// and quoted name.
func schemaAt(t *testing.T, pool *pgxpool.Pool, version int) (string, string) {
	schema := newSchema(t, pool)
	q := pgx.Identifier{schema}.Sanitize()
	ctx := testCtx(t)
	_, err := pool.Exec(ctx, "CREATE SCHEMA "+q+"; CREATE TABLE "+q+".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	for v := range version {
		_, err = pool.Exec(ctx, strings.ReplaceAll(migrations[v].up, "{schema}", q))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "INSERT INTO "+q+".schema_migrations (version) VALUES ($1)", v+1)
		require.NoError(t, err)
	}
	return schema, q
}

// A database at version 1 with jobs in it upgrades in place: its jobs keep
// working and get no parent, batch or unique key.
func TestMigrateUpgradesVersion1(t *testing.T) {
	pool := testPool(t)
	schema, q := schemaAt(t, pool, 1)
	ctx := testCtx(t)
	id := uuid.New()
	_, err := pool.Exec(ctx, "INSERT INTO "+q+`.jobs
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

// Version 2 kept the current state as the last history row; version 3 keeps
// it on the job row only. Upgrading moves it there without changing the
// history a job reports.
func TestMigrateUpgradesVersion2History(t *testing.T) {
	pool := testPool(t)
	schema, q := schemaAt(t, pool, 2)
	ctx := testCtx(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	enqueued := storage.StateRecord{State: "enqueued", Data: []byte("{}"), At: at}
	tests := []struct {
		name    string
		id      uuid.UUID
		current storage.StateRecord // the last history row of version 2
	}{
		{"current state with a reason", uuid.New(),
			storage.StateRecord{State: "scheduled", Reason: "retry", Data: []byte(`{"reason":"retry"}`), At: at.Add(time.Second)}},
		{"current state without one", uuid.New(),
			storage.StateRecord{State: "succeeded", Data: []byte(`{"result":1}`), At: at.Add(time.Second)}},
	}
	for _, tt := range tests {
		_, err := pool.Exec(ctx, "INSERT INTO "+q+`.jobs (id, task, args, queue, state, state_data, run_at, created_at, updated_at)
			VALUES ($1, 't', '', 'default', $2, $3, $4, $4, $5)`, tt.id, tt.current.State, tt.current.Data, at, tt.current.At)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "INSERT INTO "+q+`.job_history (job_id, state, reason, data, at) VALUES
			($1, 'enqueued', '', '{}', $2), ($1, $3, $4, $5, $6)`, tt.id, at, tt.current.State, tt.current.Reason, tt.current.Data, tt.current.At)
		require.NoError(t, err)
	}

	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	s := New(pool, Schema(schema))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := s.Get(ctx, tt.id)
			require.NoError(t, err)
			require.Equal(t, []storage.StateRecord{enqueued, tt.current}, utcHistory(j.History))
			var rows int
			require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+q+".job_history WHERE job_id = $1", tt.id).Scan(&rows))
			require.Equal(t, 1, rows, "the current state is no longer a history row")
		})
	}
}

func utcHistory(h []storage.StateRecord) []storage.StateRecord {
	for i := range h {
		h[i].At = h[i].At.UTC()
	}
	return h
}

// TestSchemaMustBeAPlainIdentifier: a schema name is never quoted into SQL
// as anything but a plain identifier; others are refused by Migrate and by
// every call of the store.
func TestSchemaMustBeAPlainIdentifier(t *testing.T) {
	pool := testPool(t)
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{"taskflow_jobs", true},
		{"_private2", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{"Jobs", false},
		{"1st", false},
		{`jobs"; DROP TABLE x; --`, false},
		{"my-jobs", false},
		{strings.Repeat("a", 64), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.valid {
				c := &config{}
				Schema(tc.name)(c)
				require.NoError(t, c.err)
				return
			}
			require.ErrorIs(t, Migrate(testCtx(t), pool, Schema(tc.name)), ErrInvalidSchema)
			_, err := New(pool, Schema(tc.name)).Get(testCtx(t), uuid.New())
			require.ErrorIs(t, err, ErrInvalidSchema)
		})
	}
}

// A store warns once, on its first call, when the server runs with
// autovacuum off, and not when it runs it.
func TestStoreWarnsWhenAutovacuumIsOff(t *testing.T) {
	pool := testPool(t)
	schema := newSchema(t, pool)
	ctx := testCtx(t)
	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	var on bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT current_setting('autovacuum')::bool`).Scan(&on))
	var logged bytes.Buffer
	s := New(pool, Schema(schema), WithLogger(slog.New(slog.NewTextHandler(&logged, nil))))
	for range 2 {
		_, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "o", LeaseFor: time.Minute})
		require.NoError(t, err)
	}
	want := 1
	if on {
		want = 0
	}
	require.Equal(t, want, strings.Count(logged.String(), "autovacuum off"), "warnings with autovacuum = %v: %s", on, logged.String())
}
