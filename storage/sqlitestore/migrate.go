package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version  int
	name     string
	up, down string
}

var migrations = loadMigrations()

var latestVersion = len(migrations)

// loadMigrations reads migrations/NNN_name.sql (up) and
// NNN_name.down.sql (down), which must be numbered 1, 2, ... without gaps.
func loadMigrations() []migration {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	var out []migration
	downs := map[int]string{}
	for _, e := range entries {
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			panic(err)
		}
		num, rest, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			panic(fmt.Sprintf("sqlitestore: migration %s is not numbered", e.Name()))
		}
		if strings.HasSuffix(rest, ".down.sql") {
			downs[v] = string(b)
			continue
		}
		if v != len(out)+1 {
			panic(fmt.Sprintf("sqlitestore: migration %s is out of sequence", e.Name()))
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(rest, ".sql"), up: string(b)})
	}
	for v, sql := range downs {
		if v > len(out) {
			panic(fmt.Sprintf("sqlitestore: down migration %d has no up migration", v))
		}
		out[v-1].down = sql
	}
	return out
}

// ErrUnknownVersion means a schema version is not one this package knows.
var ErrUnknownVersion = errors.New("sqlitestore: unknown schema version")

// Migration is one schema version.
type Migration struct {
	Version int
	// Name is what the version adds, from its file name ("init", ...).
	Name string
	// Applied reports whether the file is at this version or a later one
	// (always false in Migrations).
	Applied bool
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

// MigrationStatus lists the schema versions this package knows and which
// are applied to the file at path.
func MigrationStatus(ctx context.Context, path string) ([]Migration, error) {
	db, err := sql.Open("sqlite3", dsn(path, config{synchronous: "NORMAL"}, true))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	v, err := userVersion(ctx, conn)
	if err != nil {
		return nil, (&core{path: path}).fileError(err)
	}
	out := Migrations()
	for i := range out {
		out[i].Applied = out[i].Version <= v
	}
	return out, nil
}

// MigrateTo brings the file at path up or down to version, in one
// transaction. Going down runs the versions' down migrations, newest
// first, and loses what they held (version 0 drops every table). A version
// this package does not know, or a file migrated by a newer taskflow,
// returns an error wrapping [ErrUnknownVersion] or [ErrSchemaTooNew]. Stores
// open on the file must be closed first when going down.
func MigrateTo(ctx context.Context, path string, version int) error {
	if version < 0 || version > latestVersion {
		return fmt.Errorf("%w: %d (this taskflow knows 0 to %d)", ErrUnknownVersion, version, latestVersion)
	}
	s := &core{path: path}
	db, err := sql.Open("sqlite3", dsn(path, config{synchronous: "NORMAL"}, false))
	if err != nil {
		return s.fileError(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return s.fileError(err)
	}
	defer conn.Close()
	return s.fileError(migrateConn(ctx, conn, version, false))
}

func userVersion(ctx context.Context, conn *sql.Conn) (int, error) {
	var v int
	err := retryBusy(ctx, func() error { return conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v) })
	return v, err
}

// migrateConn takes the file on conn to version target in one IMMEDIATE
// transaction, which other processes wait for; upOnly leaves a file at a
// later version alone.
func migrateConn(ctx context.Context, conn *sql.Conn, target int, upOnly bool) error {
	return retryBusy(ctx, func() error {
		if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		err := func() error {
			v, err := userVersion(ctx, conn)
			if err != nil {
				return err
			}
			switch {
			case v > latestVersion:
				return fmt.Errorf("%w: the file is at schema version %d, this taskflow knows up to %d; upgrade taskflow", ErrSchemaTooNew, v, latestVersion)
			case upOnly && v >= target:
				return nil
			}
			for ; v < target; v++ {
				if _, err := conn.ExecContext(ctx, migrations[v].up); err != nil {
					return fmt.Errorf("migration %d (%s): %w", v+1, migrations[v].name, err)
				}
			}
			for ; v > target; v-- {
				if _, err := conn.ExecContext(ctx, migrations[v-1].down); err != nil {
					return fmt.Errorf("down migration %d (%s): %w", v, migrations[v-1].name, err)
				}
			}
			_, err = conn.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(target))
			return err
		}()
		if err != nil {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			return err
		}
		_, err = conn.ExecContext(ctx, "COMMIT")
		return err
	})
}
