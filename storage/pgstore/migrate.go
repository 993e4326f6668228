package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles are the schema versions: NNN_what.sql brings the schema up
// to version NNN, numbered from 001 without gaps, and NNN_what.down.sql
// takes it back to version NNN-1. {schema} in them stands for the quoted
// schema. Adding a version is adding such a pair.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema version and the statements that apply and undo it.
type migration struct {
	version  int
	name     string
	up, down string // down is empty when the file is missing
}

var migrations = loadMigrations()

// latestVersion is the schema version this package needs.
var latestVersion = len(migrations)

func loadMigrations() []migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	downs := map[int]string{}
	for _, e := range entries { // ReadDir sorts by name
		base, isDown := strings.CutSuffix(e.Name(), ".down.sql")
		if !isDown {
			base = strings.TrimSuffix(e.Name(), ".sql")
		}
		num, name, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		b, rerr := migrationFiles.ReadFile("migrations/" + e.Name())
		switch {
		case err != nil || v < 1:
			panic(fmt.Sprintf("pgstore: migration %s is not named NNN_what.sql", e.Name()))
		case rerr != nil:
			panic(rerr)
		case isDown:
			downs[v] = string(b)
		case v != len(out)+1:
			panic(fmt.Sprintf("pgstore: migration %s is out of sequence", e.Name()))
		default:
			out = append(out, migration{version: v, name: name, up: string(b)})
		}
	}
	for v, sql := range downs {
		if v > len(out) {
			panic(fmt.Sprintf("pgstore: down migration %d has no up migration", v))
		}
		out[v-1].down = sql
	}
	return out
}

// ErrUnknownVersion means a schema version is not one this package knows:
// below 0, above the latest, or a database migrated by a newer version.
var ErrUnknownVersion = errors.New("pgstore: unknown schema version")

// Migration is one schema version.
type Migration struct {
	Version int
	// Name is what the version adds, from its file name ("init", "flow",
	// ...); empty for a version applied by a newer taskflow.
	Name string
	// AppliedAt is when the version was applied; zero when it is not (and
	// always in Migrations).
	AppliedAt time.Time
}

// Migrations lists the schema versions this package knows, oldest first;
// the last is the one it needs.
func Migrations() []Migration {
	out := make([]Migration, len(migrations))
	for i, m := range migrations {
		out[i] = Migration{Version: m.version, Name: m.name}
	}
	return out
}

// Migrate creates the schema (see [Schema]) or brings it up to the version
// this package needs. It runs in one transaction under an advisory lock, so
// it is idempotent and safe to run from several processes at once. A
// database at a newer version is left alone.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	return migrate(ctx, pool, latestVersion, true, opts)
}

// MigrateTo brings the schema up or down to version, in one transaction
// under the advisory lock Migrate takes. Going down runs the versions' down
// migrations, newest first, and loses what they held (version 0 drops every
// table, schema_migrations included, and leaves the schema itself). A
// version this package does not know, or a database migrated by a newer
// version, returns an error wrapping [ErrUnknownVersion].
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int, opts ...Option) error {
	return migrate(ctx, pool, version, false, opts)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, target int, upOnly bool, opts []Option) error {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return cfg.err
	}
	schema := pgx.Identifier{cfg.schema}.Sanitize()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "taskflow migrate "+cfg.schema); err != nil {
			return err
		}
		v, err := appliedVersion(ctx, tx, schema)
		if err != nil {
			return err
		}
		if upOnly && (v >= target || v > latestVersion) {
			return nil // up to date, or migrated by a newer version
		}
		steps, err := plan(v, target)
		if err != nil {
			return err
		}
		for _, s := range steps {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(s.sql, "{schema}", schema)); err != nil {
				return fmt.Errorf("%s: %w", s.label, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrate schema %q to version %d: %w", cfg.schema, target, err)
	}
	return nil
}

// appliedVersion returns the schema version applied last: 0 for a missing
// schema or schema_migrations table. It causes no error for those, so that
// it can run inside a transaction.
func appliedVersion(ctx context.Context, q db, schema string) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".schema_migrations").Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := q.QueryRow(ctx, strings.ReplaceAll(versionSQL, "{s}", schema)).Scan(&v)
	return v, err
}

// isUndefined reports whether err is PostgreSQL's undefined table or schema.
func isUndefined(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P01" || pe.Code == "3F000")
}

// step is one statement batch of a migration plan; {schema} stands for the
// quoted schema.
type step struct {
	label string
	sql   string
}

const (
	createBookkeeping = `CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
	version integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now());`
	dropBookkeeping = `DROP TABLE {schema}.schema_migrations;`
)

// plan returns the steps that take a schema from version from to version
// to: each version's migration and its row in schema_migrations. Going up,
// it starts by creating that table; going down to 0, it ends by dropping it.
func plan(from, to int) ([]step, error) {
	for _, v := range []int{from, to} {
		if v < 0 || v > latestVersion {
			return nil, fmt.Errorf("%w %d: this taskflow knows versions 0 to %d", ErrUnknownVersion, v, latestVersion)
		}
	}
	var steps []step
	if to > from {
		steps = append(steps, step{"schema_migrations", createBookkeeping})
	}
	for v := from + 1; v <= to; v++ {
		m := migrations[v-1]
		steps = append(steps, step{fmt.Sprintf("version %d (%03d_%s.sql)", v, v, m.name),
			fmt.Sprintf("%s\nINSERT INTO {schema}.schema_migrations (version) VALUES (%d);", strings.TrimSpace(m.up), v)})
	}
	for v := from; v > to; v-- {
		m := migrations[v-1]
		if m.down == "" {
			return nil, fmt.Errorf("version %d cannot be undone: migrations/%03d_%s.down.sql is missing", v, v, m.name)
		}
		steps = append(steps, step{fmt.Sprintf("undo version %d (%03d_%s.down.sql)", v, v, m.name),
			fmt.Sprintf("%s\nDELETE FROM {schema}.schema_migrations WHERE version = %d;", strings.TrimSpace(m.down), v)})
	}
	if to == 0 && from > 0 {
		steps = append(steps, step{"schema_migrations", dropBookkeeping})
	}
	return steps, nil
}

// MigrationSQL returns the SQL statements that MigrateTo runs to take a
// schema from version from to version to, for teams that apply migrations
// with their own tool. It includes the bookkeeping in schema_migrations
// that the store checks, and no transaction control: run it in one
// transaction (psql --single-transaction). Versions are checked as by
// MigrateTo.
func MigrationSQL(from, to int, opts ...Option) (string, error) {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return "", cfg.err
	}
	steps, err := plan(from, to)
	if err != nil {
		return "", fmt.Errorf("pgstore: migration SQL: %w", err)
	}
	schema := pgx.Identifier{cfg.schema}.Sanitize()
	var b strings.Builder
	fmt.Fprintf(&b, "-- taskflow schema %s: version %d to %d.\n", schema, from, to)
	for _, s := range steps {
		fmt.Fprintf(&b, "\n-- %s\n%s\n", s.label, strings.ReplaceAll(s.sql, "{schema}", schema))
	}
	return b.String(), nil
}

// MigrationStatus lists the schema versions this package knows, with when
// each was applied, followed by any applied version it does not know (a
// newer taskflow's). A missing schema has none applied.
func MigrationStatus(ctx context.Context, pool *pgxpool.Pool, opts ...Option) ([]Migration, error) {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return nil, cfg.err
	}
	out := Migrations()
	rows, err := pool.Query(ctx, `SELECT version, applied_at FROM `+pgx.Identifier{cfg.schema}.Sanitize()+`.schema_migrations ORDER BY version`)
	if err == nil {
		var m Migration
		_, err = pgx.ForEachRow(rows, []any{&m.Version, &m.AppliedAt}, func() error {
			if m.Version >= 1 && m.Version <= len(out) {
				out[m.Version-1].AppliedAt = m.AppliedAt
			} else {
				out = append(out, m)
			}
			return nil
		})
	}
	if err != nil && !isUndefined(err) {
		return nil, fmt.Errorf("pgstore: migration status of schema %q: %w", cfg.schema, err)
	}
	return out, nil
}
