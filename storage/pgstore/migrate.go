package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFiles are the schema versions, named NNN_what.sql and numbered
// from 001 without gaps. {schema} in them stands for the quoted schema.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

var migrations = loadMigrations()

// latestVersion is the schema version this package needs.
var latestVersion = len(migrations)

func loadMigrations() []string {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	out := make([]string, len(entries))
	for i, e := range entries { // ReadDir sorts by name
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil || v != i+1 {
			panic(fmt.Sprintf("pgstore: migration %s is out of sequence", e.Name()))
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			panic(err)
		}
		out[i] = string(b)
	}
	return out
}

// Migrate creates the schema (see [Schema]) or brings it up to the version
// this package needs. It runs in one transaction under an advisory lock, so
// it is idempotent and safe to run from several processes at once. A
// database at a newer version is left alone.
func Migrate(ctx context.Context, pool *pgxpool.Pool, opts ...Option) error {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return cfg.err
	}
	schema := pgx.Identifier{cfg.schema}.Sanitize()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "taskflow migrate "+cfg.schema); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+schema+`;
CREATE TABLE IF NOT EXISTS `+schema+`.schema_migrations (
	version integer PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+schema+`.schema_migrations`).Scan(&v); err != nil {
			return err
		}
		for ; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, strings.ReplaceAll(migrations[v], "{schema}", schema)); err != nil {
				return fmt.Errorf("version %d: %w", v+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+schema+`.schema_migrations (version) VALUES ($1)`, v+1); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pgstore: migrate schema %q: %w", cfg.schema, err)
	}
	return nil
}
