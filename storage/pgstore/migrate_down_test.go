package pgstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// describe lists what schema holds (columns, indexes, constraints,
// sequences, storage parameters), one sorted line each, with the schema's name replaced.
func describe(t *testing.T, pool *pgxpool.Pool, schema string) string {
	t.Helper()
	var out string
	err := pool.QueryRow(testCtx(t), `SELECT coalesce(string_agg(replace(x, $1, 'S'), E'\n' ORDER BY x), '') FROM (
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' ||
			coalesce(column_default, '') || ' ' || is_identity AS x
			FROM information_schema.columns WHERE table_schema = $1
		UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = $1
		UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_get_constraintdef(c.oid)
			FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1
		UNION ALL SELECT 'sequence ' || sequence_name FROM information_schema.sequences WHERE sequence_schema = $1
		UNION ALL SELECT 'options ' || c.relname || ' ' || array_to_string(c.reloptions, ',')
			FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.reloptions IS NOT NULL
	) t`, schema).Scan(&out)
	require.NoError(t, err)
	return out
}

func TestEveryMigrationCanBeUndone(t *testing.T) {
	for _, m := range migrations {
		require.NotEmpty(t, m.down, "migrations/%03d_%s.down.sql is missing", m.version, m.name)
	}
}

// Going up to the latest version and down to v leaves the schema exactly
// as going up to v does, for every v.
func TestMigrateDownUndoesUp(t *testing.T) {
	pool := testPool(t)
	ctx := testCtx(t)
	for v := latestVersion - 1; v >= 0; v-- {
		t.Run(fmt.Sprintf("to%d", v), func(t *testing.T) {
			direct, roundTrip := newSchema(t, pool), newSchema(t, pool)
			require.NoError(t, MigrateTo(ctx, pool, v, Schema(direct)))
			require.NoError(t, Migrate(ctx, pool, Schema(roundTrip)))
			require.NoError(t, MigrateTo(ctx, pool, v, Schema(roundTrip)))
			require.Equal(t, describe(t, pool, direct), describe(t, pool, roundTrip))
			if v == 0 {
				require.Empty(t, describe(t, pool, roundTrip), "version 0 leaves no table")
			}
			st, err := MigrationStatus(ctx, pool, Schema(roundTrip))
			require.NoError(t, err)
			for _, m := range st {
				require.Equal(t, m.Version <= v, !m.AppliedAt.IsZero(), "version %d applied", m.Version)
			}
		})
	}
}

// Jobs survive a trip down to version 2 (history keeps the current state)
// and back up, with the history they report unchanged; the store refuses
// to work on the older schema meanwhile.
func TestMigrateDownAndUpKeepsJobs(t *testing.T) {
	s := newStore(t)
	ctx := testCtx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	j := &storage.Job{ID: uuid.New(), Task: "t", Queue: "default", State: "enqueued", StateData: []byte(`{"queue":"default"}`),
		CreatedAt: now, UpdatedAt: now}
	require.NoError(t, create(ctx, s, j))
	errs, err := s.Transition(ctx, &storage.TransitionParams{Now: now.Add(time.Second), Transitions: []storage.Transition{{
		ID: j.ID, From: []states.Name{states.NameEnqueued}, To: states.NameFailed, Reason: "boom", Data: []byte(`{"error_message":"boom"}`),
	}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	_, err = s.DeleteExpired(ctx, &storage.PruneParams{Now: now.Add(2 * time.Second), Limit: 10})
	require.NoError(t, err)
	require.NoError(t, s.AppendLogs(ctx, []storage.LogRecord{{JobID: j.ID, Attempt: 1, At: now, Level: "INFO", Message: "kept"}}))
	before, err := s.Get(ctx, j.ID)
	require.NoError(t, err)
	hot, kept := where(t, s, j.ID)
	require.Equal(t, [2]int{0, 1}, [2]int{hot, kept}, "the pruner moves a Failed job to jobs_kept")

	opt := Schema(s.cfg.schema)
	const keptJobs = 14 // migrations/014_kept_jobs.sql
	require.NoError(t, MigrateTo(ctx, s.pool, keptJobs-1, opt))
	var n int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.cfg.schema+`.jobs WHERE id = $1`, j.ID).Scan(&n))
	require.Equal(t, 1, n, "going down moves the kept job back to jobs")
	require.NoError(t, Migrate(ctx, s.pool, opt))
	logs, _, err := s.JobLogs(ctx, j.ID)
	require.NoError(t, err)
	require.Len(t, logs, 1, "a kept job's logs survive a trip down before jobs_kept and up")

	require.NoError(t, MigrateTo(ctx, s.pool, 2, opt))
	_, err = New(s.pool, opt).Get(ctx, j.ID)
	require.ErrorIs(t, err, ErrNotMigrated)
	require.ErrorContains(t, err, "is at version 2")

	require.NoError(t, Migrate(ctx, s.pool, opt))
	after, err := New(s.pool, opt).Get(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, utcHistory(before.History), utcHistory(after.History))
	require.Equal(t, "failed", string(after.State))
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM `+s.cfg.schema+`.job_history WHERE job_id = $1`, j.ID).Scan(&hot))
	require.Zero(t, hot, "the migration moves a Failed job's history to job_history_kept")
	hot, kept = where(t, s, j.ID)
	require.Equal(t, [2]int{0, 1}, [2]int{hot, kept}, "the migration moves a Failed job to jobs_kept")
}

func TestMigrationStatus(t *testing.T) {
	pool := testPool(t)
	ctx := testCtx(t)
	schema := newSchema(t, pool)
	st, err := MigrationStatus(ctx, pool, Schema(schema))
	require.NoError(t, err, "a missing schema has nothing applied")
	require.Equal(t, Migrations(), st)
	require.Equal(t, "init", st[0].Name)

	require.NoError(t, MigrateTo(ctx, pool, 3, Schema(schema)))
	st, err = MigrationStatus(ctx, pool, Schema(schema))
	require.NoError(t, err)
	require.Len(t, st, latestVersion)
	for _, m := range st {
		require.Equal(t, m.Version <= 3, !m.AppliedAt.IsZero(), "version %d", m.Version)
	}

	// A newer taskflow migrated it further: its version is listed, Migrate
	// leaves it alone and MigrateTo refuses.
	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	newer := latestVersion + 1
	_, err = pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.schema_migrations (version) VALUES (%d)`, schema, newer))
	require.NoError(t, err)
	st, err = MigrationStatus(ctx, pool, Schema(schema))
	require.NoError(t, err)
	require.Equal(t, newer, st[len(st)-1].Version)
	require.Empty(t, st[len(st)-1].Name)
	require.NoError(t, Migrate(ctx, pool, Schema(schema)))
	require.ErrorIs(t, MigrateTo(ctx, pool, 1, Schema(schema)), ErrUnknownVersion)
}

func TestMigrateToUnknownVersion(t *testing.T) {
	pool := testPool(t)
	for _, v := range []int{-1, latestVersion + 1} {
		require.ErrorIs(t, MigrateTo(testCtx(t), pool, v, Schema(newSchema(t, pool))), ErrUnknownVersion, "version %d", v)
		_, err := MigrationSQL(0, v)
		require.ErrorIs(t, err, ErrUnknownVersion, "version %d", v)
		_, err = MigrationSQL(v, 0)
		require.ErrorIs(t, err, ErrUnknownVersion, "version %d", v)
	}
	_, err := MigrationSQL(0, 1, Schema("Bad-Name"))
	require.ErrorIs(t, err, ErrInvalidSchema)
}

// The statements MigrationSQL prints, run by another tool, give the schema
// a working store, and the down statements remove it all again.
func TestMigrationSQLRunsElsewhere(t *testing.T) {
	pool := testPool(t)
	ctx := testCtx(t)
	schema := newSchema(t, pool)
	up, err := MigrationSQL(0, latestVersion, Schema(schema))
	require.NoError(t, err)
	require.Contains(t, up, `CREATE TABLE "`+schema+`".jobs`)
	require.NotContains(t, up, "{schema}")
	require.NotRegexp(t, `(?im)^\s*(BEGIN|START TRANSACTION|COMMIT)\s*;`, up, "no transaction control (a PL/pgSQL block's BEGIN is not)")
	runScript(ctx, t, pool, up)
	_, err = New(pool, Schema(schema)).Get(ctx, uuid.New())
	require.ErrorIs(t, err, storage.ErrNotFound, "the store works on the schema")

	down, err := MigrationSQL(latestVersion, 0, Schema(schema))
	require.NoError(t, err)
	runScript(ctx, t, pool, down)
	require.Empty(t, describe(t, pool, schema))
}

// runScript runs sql in one transaction, as psql --single-transaction does.
func runScript(ctx context.Context, t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, sql)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
}
