// Command taskflow inspects and repairs taskflow's jobs in any store,
// manages its schema, and measures how fast taskflow works in memory, on
// PostgreSQL or on Redis.
//
// Usage:
//
//	taskflow migrate up [--to N] | down [--to N] [--yes] | status | sql [--from N] [--to N]
//	taskflow stats
//	taskflow queues [list] | pause QUEUE | resume QUEUE
//	taskflow workers
//	taskflow limits
//	taskflow jobs list [--state S] [--queue Q] [--task T] [--limit N]
//	taskflow jobs show ID
//	taskflow jobs requeue|delete ID... | --state S [--queue Q] [--task T] [--yes]
//	taskflow recurring list | trigger|pause|resume|remove ID
//	taskflow batch show ID
//	taskflow dashboard [--addr HOST:PORT] [--read-only] [--hide-args] [--csrf-key-file PATH]
//	taskflow bench [flags]
//	taskflow version
//	taskflow help [COMMAND...]
//
// Every command that reads the store takes --store URL (default
// $TASKFLOW_STORE, else $TASKFLOW_DATABASE_URL): sqlite:///var/lib/app/jobs.db,
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable, redis://127.0.0.1:6379/0
// or memory:; --database is the same flag, by its older name. It also
// takes --schema NAME (PostgreSQL's schema, default "taskflow") and --json,
// which prints JSON for scripts instead of tables. Flags may come before or after the arguments; -flag and --flag
// are the same.
//
// Exit status: 0 on success, 1 when the command failed (unreachable
// database, unmigrated schema, unknown job, ...), 2 for a usage error (an
// unknown command or flag, a malformed ID, a missing argument).
//
// The command line is built on the standard flag package: each command has
// a few flags of its own plus the three above, which flag.FlagSet covers
// with help text from the flag definitions, so a framework (cobra, kong)
// would add a dependency and little else. What flag lacks, flags after
// arguments and nested commands, takes a few lines here.
//
// Requeue and delete take job IDs, or a selection (--state, --queue,
// --task) of every job it matches. A selection is confirmed on a terminal
// unless --yes is given, and refused without --yes when stdin is not a
// terminal. So is migrate down, which loses what the undone versions hold.
//
// bench runs no-op jobs through a store and a worker, using only the public
// API; "taskflow help bench" describes its modes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/taskflow-go/taskflow/storage/pgstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// errUsage marks errors in the command line; main exits with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		msg, _ := strings.CutPrefix(err.Error(), "usage: ")
		fmt.Fprintln(os.Stderr, "taskflow:", strings.TrimPrefix(msg, "taskflow: "))
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, args...)...)
}

// command is a node of the command tree: a group of subcommands, or a leaf
// that defines its flags and returns its action.
type command struct {
	name    string
	args    string // synopsis after the name
	summary string
	help    string // more, for "taskflow help"
	subs    []*command
	// def names the subcommand a group runs when given none.
	def string
	// define defines the leaf's flags on fs and returns its action, which
	// runs with the positional arguments once the flags are parsed.
	define func(fs *flag.FlagSet, e *env) action
}

// commands is the command tree.
var commands = &command{name: "taskflow", subs: []*command{
	migrateCommand, statsCommand, queuesCommand, workersCommand, limitsCommand, jobsCommand,
	recurringCommand, batchCommand, dashboardCommand, benchCommand, versionCommand,
}}

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// run executes the command line args (without the program name).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr, commands, nil)
		return usageErr("no command")
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		return help(stdout, args[1:])
	}
	c, path := commands, []string{}
	for len(c.subs) > 0 {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			printUsage(stdout, c, path)
			return nil
		}
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			if len(path) == 0 {
				printUsage(stderr, c, path)
				return usageErr("unknown command %q: the command comes first, its flags after it", args[0])
			}
			if c.def == "" {
				printUsage(stderr, c, path)
				return usageErr("%s: missing command: want one of %s", strings.Join(path, " "), names(c))
			}
			args = append([]string{c.def}, args...)
		}
		s := c.sub(args[0])
		if s == nil {
			printUsage(stderr, c, path)
			if len(path) == 0 {
				return usageErr("unknown command %q", args[0])
			}
			return usageErr("%s: unknown command %q: want one of %s", strings.Join(path, " "), args[0], names(c))
		}
		c, path, args = s, append(path, s.name), args[1:]
	}
	e := &env{stdout: stdout, stderr: stderr}
	defer e.close()
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	action := c.define(fs, e)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, c, path, fs)
		return nil
	}
	if err != nil {
		return usageErr("%s: %w (see \"taskflow help %s\")", fs.Name(), err, fs.Name())
	}
	err = action(ctx, pos)
	switch {
	case errors.Is(err, pgstore.ErrInvalidSchema) || errors.Is(err, taskflow.ErrInvalidQueue):
		return fmt.Errorf("%w: %w", errUsage, err)
	case errors.Is(err, pgstore.ErrNotMigrated) && e.schema != pgstore.DefaultSchema:
		return fmt.Errorf("%w (here: taskflow migrate up --schema %s)", err, e.schema)
	}
	return err
}

// parseInterspersed parses args into fs, allowing flags after positional
// arguments (flag stops at the first one), and returns the positional
// arguments. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func names(c *command) string {
	var n []string
	for _, s := range c.subs {
		n = append(n, s.name)
	}
	return strings.Join(n, ", ")
}

// help prints the help of the command that path names, or the overview.
func help(w io.Writer, path []string) error {
	c := commands
	for i, name := range path {
		if c = c.sub(name); c == nil {
			return usageErr("help: unknown command %q", strings.Join(path[:i+1], " "))
		}
	}
	if len(c.subs) > 0 {
		printUsage(w, c, path)
		return nil
	}
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	c.define(fs, &env{})
	printHelp(w, c, path, fs)
	return nil
}

// printUsage lists the leaves under c, which path names.
func printUsage(w io.Writer, c *command, path []string) {
	if c.help != "" {
		fmt.Fprintf(w, "%s\n\n", c.help)
	}
	fmt.Fprintln(w, "Usage:")
	var walk func(c *command, path []string)
	walk = func(c *command, path []string) {
		if len(c.subs) == 0 {
			fmt.Fprintf(w, "  taskflow %s\n        %s\n", strings.TrimSpace(strings.Join(path, " ")+" "+c.args), c.summary)
		}
		for _, s := range c.subs {
			walk(s, append(path[:len(path):len(path)], s.name))
		}
	}
	walk(c, path)
	fmt.Fprint(w, `
Commands that read a store take --store URL (sqlite:///PATH, postgres://...,
redis://..., redis+cluster://... or memory:; default $TASKFLOW_STORE, else
$TASKFLOW_DATABASE_URL; --database is the same flag), --schema NAME (the
PostgreSQL schema, default "taskflow") and --json. Flags come after the
command.
Run "taskflow help COMMAND" for a command's flags.
Exit status: 0 ok, 1 failure, 2 usage error.
`)
}

// printHelp prints a leaf's synopsis, description and flags.
func printHelp(w io.Writer, c *command, path []string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: taskflow %s\n\n%s.\n", strings.TrimSpace(strings.Join(path, " ")+" "+c.args), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if any {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

var versionCommand = &command{
	name: "version", summary: "Print the version of the taskflow library built in and the Go version that built it",
	define: func(fs *flag.FlagSet, e *env) action {
		e.outputFlag(fs)
		return func(_ context.Context, args []string) error {
			if err := noArgs("version", args); err != nil {
				return err
			}
			v := struct {
				Version  string `json:"version"`
				Revision string `json:"revision,omitempty"`
				Go       string `json:"go"`
			}{Version: taskflow.Version(), Go: runtime.Version()}
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v.Revision = s.Value
					}
				}
			}
			if e.json {
				return e.writeJSON(v)
			}
			fmt.Fprintf(e.stdout, "taskflow %s", v.Version)
			if v.Revision != "" {
				fmt.Fprintf(e.stdout, " (revision %.12s)", v.Revision)
			}
			fmt.Fprintf(e.stdout, ", %s\n", v.Go)
			return nil
		}
	},
}

// noArgs returns a usage error unless args is empty.
func noArgs(cmd string, args []string) error {
	if len(args) > 0 {
		return usageErr("%s: unexpected argument %q", cmd, args[0])
	}
	return nil
}
