package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/storage/sqlitestore"
)

var migrateCommand = &command{
	name: "migrate", def: "up",
	help: `migrate manages the schema that holds taskflow's tables in PostgreSQL. Every
change runs in one transaction under an advisory lock. "taskflow migrate"
alone means "taskflow migrate up".`,
	subs: []*command{
		{name: "up", args: "[--to N]", summary: "Create the schema or bring it up to the latest version (or N)",
			help:   "Idempotent: a schema at that version already is left as it is.",
			define: defineMigrate(false)},
		{name: "down", args: "[--to N] [--yes]", summary: "Undo the latest version (or every version above N)",
			help: `What the undone versions hold is lost (version 0 drops every table). Stop the
workers first: they stop working on an older schema. Asks for confirmation on a
terminal unless --yes is given, and refuses without --yes when stdin is not a
terminal.`,
			define: defineMigrate(true)},
		{name: "status", summary: "List the schema versions and which are applied", define: defineMigrateStatus},
		{name: "sql", args: "[--from N] [--to N]", summary: "Print the SQL that takes the schema from version N to M, without running it",
			help: `For teams that run migrations with their own tool: the statements include the
bookkeeping in schema_migrations that taskflow checks, and no transaction
control, so run them in one transaction (psql --single-transaction).
--from defaults to 0 and --to to the latest version; --from above --to prints
the down migrations. Needs no database.`,
			define: defineMigrateSQL},
	},
}

// latest is the newest schema version this taskflow knows.
func latest() int { return len(pgstore.Migrations()) }

// versionFlag defines an optional version flag; -1 means not given.
func versionFlag(fs *flag.FlagSet, name, usage string) *int {
	return fs.Int(name, -1, usage)
}

func checkVersion(name string, v int) error {
	if v < 0 || v > latest() {
		return usageErr("--%s %d: want a version from 0 to %d", name, v, latest())
	}
	return nil
}

func defineMigrate(down bool) func(*flag.FlagSet, *env) action {
	return func(fs *flag.FlagSet, e *env) action {
		e.dbFlags(fs)
		to := versionFlag(fs, "to", "the schema `version` to reach")
		var yes bool
		if down {
			fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
		}
		return func(ctx context.Context, args []string) error {
			op := map[bool]string{false: "migrate up", true: "migrate down"}[down]
			if err := noArgs(op, args); err != nil {
				return err
			}
			if *to != -1 {
				if err := checkVersion("to", *to); err != nil {
					return err
				}
			}
			if !e.isPostgres() {
				return migrateOther(ctx, e, op, down, *to, yes)
			}
			opt, err := e.schemaOption()
			if err != nil {
				return err
			}
			pool, err := e.connectPool(ctx)
			if err != nil {
				return err
			}
			cur, _, err := schemaVersion(ctx, e, opt)
			if err != nil {
				return err
			}
			target := *to
			switch {
			case target == -1 && down:
				target = max(cur-1, 0)
			case target == -1:
				target = latest()
			case down && target > cur:
				return usageErr("%s: schema %q is at version %d, below --to %d: use migrate up", op, e.schema, cur, target)
			case !down && target < cur:
				return usageErr("%s: schema %q is at version %d, above --to %d: use migrate down", op, e.schema, cur, target)
			}
			if target == cur {
				fmt.Fprintf(e.stdout, "schema %q is at version %d already\n", e.schema, cur)
				return nil
			}
			if down && !yes {
				versions := fmt.Sprintf("version %d", cur)
				if target+1 < cur {
					versions = fmt.Sprintf("versions %d to %d", target+1, cur)
				}
				ok, err := e.confirm(fmt.Sprintf("undo %s of schema %q, losing what they hold?", versions, e.schema))
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("migrate down: not confirmed; nothing changed")
				}
			}
			if err := pgstore.MigrateTo(ctx, pool, target, opt); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "schema %q: version %d → %d\n", e.schema, cur, target)
			return nil
		}
	}
}

// migrateOther is migrate up or down on a store other than PostgreSQL's:
// a SQLite file has a schema of its own (which opening it migrates up, too);
// Redis and memory have none.
func migrateOther(ctx context.Context, e *env, op string, down bool, to int, yes bool) error {
	if e.scheme() != "sqlite" {
		fmt.Fprintf(e.stdout, "a %s store has no schema to migrate\n", e.scheme())
		return nil
	}
	path, _, err := sqlitestore.ParseURL(e.storeURL())
	if err != nil {
		return usageErr("%w", err)
	}
	st, err := sqlitestore.MigrationStatus(ctx, path)
	if err != nil {
		return err
	}
	cur := 0
	for _, m := range st {
		if m.Applied {
			cur = m.Version
		}
	}
	target := to
	switch {
	case target == -1 && down:
		target = max(cur-1, 0)
	case target == -1:
		target = len(sqlitestore.Migrations())
	case down && target > cur, !down && target < cur:
		return usageErr("%s: %s is at version %d, --to %d goes the other way", op, path, cur, target)
	}
	if target > len(sqlitestore.Migrations()) {
		return usageErr("--to %d: want a version from 0 to %d", target, len(sqlitestore.Migrations()))
	}
	if target == cur {
		fmt.Fprintf(e.stdout, "%s is at version %d already\n", path, cur)
		return nil
	}
	if down && !yes {
		ok, err := e.confirm(fmt.Sprintf("undo versions above %d of %s, losing what they hold?", target, path))
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("migrate down: not confirmed; nothing changed")
		}
	}
	if err := sqlitestore.MigrateTo(ctx, path, target); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: version %d → %d\n", path, cur, target)
	return nil
}

// sqliteStatus is migrate status on a SQLite file.
func sqliteStatus(ctx context.Context, e *env) error {
	path, _, err := sqlitestore.ParseURL(e.storeURL())
	if err != nil {
		return usageErr("%w", err)
	}
	st, err := sqlitestore.MigrationStatus(ctx, path)
	if err != nil {
		return err
	}
	cur := 0
	for _, m := range st {
		if m.Applied {
			cur = m.Version
		}
	}
	if e.json {
		type mig struct {
			Version int    `json:"version"`
			Name    string `json:"name"`
			Applied bool   `json:"applied"`
		}
		out := struct {
			File       string `json:"file"`
			Version    int    `json:"version"`
			Latest     int    `json:"latest"`
			Migrations []mig  `json:"migrations"`
		}{File: path, Version: cur, Latest: len(st), Migrations: []mig{}}
		for _, m := range st {
			out.Migrations = append(out.Migrations, mig(m))
		}
		return e.writeJSON(out)
	}
	rows := make([]string, len(st))
	for i, m := range st {
		rows[i] = fmt.Sprintf("%d\t%s\t%s", m.Version, m.Name, map[bool]string{true: "yes", false: "pending"}[m.Applied])
	}
	e.table("VERSION\tNAME\tAPPLIED", rows)
	if cur == len(st) {
		fmt.Fprintf(e.stdout, "\n%s is up to date (version %d)\n", path, cur)
	} else {
		fmt.Fprintf(e.stdout, "\n%s is at version %d of %d: run \"taskflow migrate up\" (or open it)\n", path, cur, len(st))
	}
	return nil
}

// schemaVersion returns the version the schema is at and its status.
func schemaVersion(ctx context.Context, e *env, opt pgstore.Option) (int, []pgstore.Migration, error) {
	pool, err := e.connectPool(ctx)
	if err != nil {
		return 0, nil, err
	}
	st, err := pgstore.MigrationStatus(ctx, pool, opt)
	if err != nil {
		return 0, nil, err
	}
	cur := 0
	for _, m := range st {
		if !m.AppliedAt.IsZero() {
			cur = max(cur, m.Version)
		}
	}
	return cur, st, nil
}

func defineMigrateStatus(fs *flag.FlagSet, e *env) action {
	e.commonFlags(fs)
	return func(ctx context.Context, args []string) error {
		if err := noArgs("migrate status", args); err != nil {
			return err
		}
		if e.scheme() == "sqlite" {
			return sqliteStatus(ctx, e)
		}
		opt, err := e.schemaOption()
		if err != nil {
			return err
		}
		cur, st, err := schemaVersion(ctx, e, opt)
		if err != nil {
			return err
		}
		if e.json {
			type mig struct {
				Version   int       `json:"version"`
				Name      string    `json:"name"`
				AppliedAt time.Time `json:"applied_at,omitzero"`
			}
			out := struct {
				Schema     string `json:"schema"`
				Version    int    `json:"version"`
				Latest     int    `json:"latest"`
				Migrations []mig  `json:"migrations"`
			}{Schema: e.schema, Version: cur, Latest: latest(), Migrations: []mig{}}
			for _, m := range st {
				out.Migrations = append(out.Migrations, mig(m))
			}
			return e.writeJSON(out)
		}
		rows := make([]string, len(st))
		for i, m := range st {
			name, applied := m.Name, "pending"
			if name == "" {
				name = "(applied by a newer taskflow)"
			}
			if !m.AppliedAt.IsZero() {
				applied = stamp(m.AppliedAt)
			}
			rows[i] = fmt.Sprintf("%d\t%s\t%s", m.Version, name, applied)
		}
		e.table("VERSION\tNAME\tAPPLIED", rows)
		switch {
		case cur == latest():
			fmt.Fprintf(e.stdout, "\nschema %q is up to date (version %d)\n", e.schema, cur)
		case cur < latest():
			fmt.Fprintf(e.stdout, "\nschema %q is at version %d of %d: run \"taskflow migrate up\"\n", e.schema, cur, latest())
		default:
			fmt.Fprintf(e.stdout, "\nschema %q is at version %d, newer than this taskflow knows (%d)\n", e.schema, cur, latest())
		}
		return nil
	}
}

func defineMigrateSQL(fs *flag.FlagSet, e *env) action {
	fs.StringVar(&e.schema, "schema", pgstore.DefaultSchema, "the `NAME` of the schema that holds taskflow's tables")
	from := fs.Int("from", 0, "the schema `version` to start from")
	to := versionFlag(fs, "to", "the schema `version` to reach (default the latest)")
	return func(_ context.Context, args []string) error {
		if err := noArgs("migrate sql", args); err != nil {
			return err
		}
		if *to == -1 {
			*to = latest()
		}
		if err := checkVersion("from", *from); err != nil {
			return err
		}
		if err := checkVersion("to", *to); err != nil {
			return err
		}
		opt, err := e.schemaOption()
		if err != nil {
			return err
		}
		sql, err := pgstore.MigrationSQL(*from, *to, opt)
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(e.stdout, sql)
		return err
	}
}
