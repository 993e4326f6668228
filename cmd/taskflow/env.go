package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/taskflow-go/taskflow/storage"
	_ "github.com/taskflow-go/taskflow/storage/memstore" // the stores of --store URLs
	"github.com/taskflow-go/taskflow/storage/pgstore"
	_ "github.com/taskflow-go/taskflow/storage/redisstore"
	_ "github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// env is what one command invocation shares: its output, the common flags
// and the database connection, opened on first use.
type env struct {
	stdout, stderr   io.Writer
	database, schema string
	json             bool
	pool             *pgxpool.Pool
	opened           storage.OpenedStore // a store other than PostgreSQL's, opened on first use
}

// dbFlags defines --store (and its alias --database) and --schema.
func (e *env) dbFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.database, "store", "", "store `URL`: sqlite:///PATH, postgres://..., redis://..., redis+cluster://... or memory: (default $TASKFLOW_STORE, else $TASKFLOW_DATABASE_URL)")
	fs.StringVar(&e.database, "database", "", "the same as --store")
	fs.StringVar(&e.schema, "schema", pgstore.DefaultSchema, "the `NAME` of the PostgreSQL schema that holds taskflow's tables")
}

// storeURL is --store, else $TASKFLOW_STORE, else $TASKFLOW_DATABASE_URL.
func (e *env) storeURL() string {
	for _, u := range []string{e.database, os.Getenv("TASKFLOW_STORE"), os.Getenv("TASKFLOW_DATABASE_URL")} {
		if u != "" {
			return u
		}
	}
	return ""
}

// scheme is the scheme of the store URL, lower-case; "" when there is none.
func (e *env) scheme() string {
	s, _, ok := strings.Cut(e.storeURL(), ":")
	if !ok {
		return ""
	}
	return strings.ToLower(s)
}

// isPostgres reports whether the store is PostgreSQL's, which the commands
// reach through a pool of their own (application name, --schema, migrate).
func (e *env) isPostgres() bool {
	switch e.scheme() {
	case "postgres", "postgresql", "":
		return true
	}
	return false
}

// outputFlag defines --json.
func (e *env) outputFlag(fs *flag.FlagSet) {
	fs.BoolVar(&e.json, "json", false, "print JSON instead of a table")
}

// commonFlags defines --database, --schema and --json.
func (e *env) commonFlags(fs *flag.FlagSet) {
	e.dbFlags(fs)
	e.outputFlag(fs)
}

// schemaOption returns --schema as a pgstore option. A bad name makes
// every call fail with pgstore.ErrInvalidSchema, a usage error.
func (e *env) schemaOption() (pgstore.Option, error) {
	if e.schema == "" {
		return nil, usageErr("--schema must not be empty")
	}
	return pgstore.Schema(e.schema), nil
}

// connectPool opens the pool on --database once.
func (e *env) connectPool(ctx context.Context) (*pgxpool.Pool, error) {
	if !e.isPostgres() {
		return nil, usageErr("this command needs PostgreSQL; the store %q is not (see \"taskflow help\")", e.storeURL())
	}
	if e.pool == nil {
		pool, err := connect(ctx, e.storeURL())
		if err != nil {
			return nil, err
		}
		e.pool = pool
	}
	return e.pool, nil
}

// client returns a client on the store in --schema.
func (e *env) client(ctx context.Context) (*taskflow.Client, error) {
	opt, err := e.schemaOption()
	if err != nil {
		return nil, err
	}
	if !e.isPostgres() {
		if e.opened == nil {
			st, err := taskflow.Open(ctx, e.storeURL())
			if err != nil {
				return nil, err
			}
			e.opened = st
		}
		return taskflow.NewClient(e.opened, taskflow.ClientOptions{})
	}
	pool, err := e.connectPool(ctx)
	if err != nil {
		return nil, err
	}
	return taskflow.NewClient(pgstore.New(pool, opt), taskflow.ClientOptions{})
}

// action is what a command does once its flags are parsed.
type action = func(ctx context.Context, args []string) error

// withClient defines a command that takes no arguments and the common
// flags, and runs fn with a client.
func withClient(name string, fn func(ctx context.Context, e *env, c *taskflow.Client) error) func(*flag.FlagSet, *env) action {
	return func(fs *flag.FlagSet, e *env) action {
		e.commonFlags(fs)
		return func(ctx context.Context, args []string) error {
			if err := noArgs(name, args); err != nil {
				return err
			}
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			return fn(ctx, e, c)
		}
	}
}

func (e *env) close() {
	if e.pool != nil {
		e.pool.Close()
	}
	if e.opened != nil {
		e.opened.Close()
	}
}

// connect opens a pool on url, or $TASKFLOW_DATABASE_URL when url is
// empty, and checks that the database answers.
func connect(ctx context.Context, url string) (*pgxpool.Pool, error) {
	if url == "" {
		url = os.Getenv("TASKFLOW_DATABASE_URL")
	}
	if url == "" {
		return nil, usageErr("no store: pass --store URL or set TASKFLOW_STORE (e.g. sqlite:///var/lib/app/jobs.db or postgres://postgres@127.0.0.1:5432/test?sslmode=disable; bench takes --database URL)")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, usageErr("bad database URL: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach the database at %s:%d: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, err)
	}
	return pool, nil
}

// writeJSON prints v as indented JSON.
func (e *env) writeJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under header as aligned columns; cells are separated
// by tabs.
func (e *env) table(header string, rows []string) {
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, r)
	}
	tw.Flush()
}

// confirm asks "prompt [y/N]" on a terminal and reports whether the answer
// was yes. Without a terminal on stdin it returns a usage error saying to
// pass --yes.
func (e *env) confirm(prompt string) (bool, error) {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return false, usageErr("%s: refusing without --yes, since stdin is not a terminal", prompt)
	}
	return ask(os.Stdin, e.stderr, prompt)
}

// ask writes "prompt [y/N] " to w, reads a line from r and reports whether
// it says yes.
func ask(r io.Reader, w io.Writer, prompt string) (bool, error) {
	fmt.Fprintf(w, "%s [y/N] ", prompt)
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return false, err
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// ago formats the time from t to now, rounded, or "-" for the zero time.
func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	if d < 0 {
		return "in " + round(-d)
	}
	return round(d) + " ago"
}

// round formats d at a precision a person reads at a glance: "23h43m",
// "4m10s", "2.5s", "41ms".
func round(d time.Duration) string {
	switch {
	case d >= time.Hour:
		d = d.Round(time.Minute)
	case d >= time.Minute:
		d = d.Round(time.Second)
	case d >= time.Second:
		d = d.Round(100 * time.Millisecond)
	default:
		d = d.Round(time.Millisecond)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// stamp formats t for a person: local time, and how long ago.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST") + " (" + ago(t) + ")"
}

// yesNo formats a flag for a table.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
