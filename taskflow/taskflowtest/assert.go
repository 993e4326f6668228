package taskflowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Enqueued is a stored job of a task, with its arguments decoded.
type Enqueued[Args any] struct {
	ID        uuid.UUID
	Args      Args
	Queue     string
	Priority  int
	State     states.Name
	Params    map[string]json.RawMessage
	CreatedAt time.Time
}

// shownJobs bounds the jobs a failure message lists.
const shownJobs = 20

// RequireEnqueued checks that store holds at least one job of task, in any
// state, whose arguments satisfy match (nil matches any), and returns those
// that do, oldest first. Otherwise it fails the test with a message that
// lists the jobs the store holds instead.
//
// store is any store that lists jobs (storage.Lister): a Harness's Store,
// a Client's Store(), or a PostgreSQL store bound to the caller's
// transaction, pgstore's WithTx(tx), which sees the transaction's
// uncommitted jobs.
func RequireEnqueued[Args, Result any](ctx context.Context, t TB, store storage.Store, task *taskflow.Task[Args, Result], match func(Args) bool) []Enqueued[Args] {
	t.Helper()
	return require(ctx, t, store, task, match, "at least 1", func(n int) bool { return n > 0 })
}

// RequireEnqueuedN checks that store holds exactly n jobs of task, in any
// state, whose arguments satisfy match (nil matches any), and returns
// them, oldest first; with n 0 it checks that there is none. Otherwise it
// fails the test with a message that lists the jobs the store holds. See
// RequireEnqueued for the stores it reads.
func RequireEnqueuedN[Args, Result any](ctx context.Context, t TB, store storage.Store, task *taskflow.Task[Args, Result], n int, match func(Args) bool) []Enqueued[Args] {
	t.Helper()
	return require(ctx, t, store, task, match, fmt.Sprint(n), func(got int) bool { return got == n })
}

func require[Args, Result any](ctx context.Context, t TB, store storage.Store, task *taskflow.Task[Args, Result],
	match func(Args) bool, want string, ok func(int) bool) []Enqueued[Args] {
	t.Helper()
	lister, isLister := store.(storage.Lister)
	if !isLister {
		fatalf(t, "%T cannot list jobs (it implements no storage.Lister)", store)
	}
	list := func(p *storage.ListParams) []*storage.Job {
		t.Helper()
		jobs, err := lister.List(ctx, p)
		if err != nil {
			fatalf(t, "listing jobs: %v", err)
		}
		slices.Reverse(jobs) // oldest first
		return jobs
	}
	ofTask := list(&storage.ListParams{Task: task.Name()})
	var found []Enqueued[Args]
	matched := make(map[uuid.UUID]bool)
	for _, j := range ofTask {
		args, err := task.DecodeArgs(j.Args)
		if err != nil || match != nil && !match(args) {
			continue
		}
		matched[j.ID] = true
		found = append(found, Enqueued[Args]{ID: j.ID, Args: args, Queue: j.Queue, Priority: j.Priority, State: j.State,
			Params: j.Params, CreatedAt: j.CreatedAt})
	}
	if ok(len(found)) {
		return found
	}
	all := list(&storage.ListParams{})
	what := "matching the predicate"
	if match == nil {
		what = "(any args)"
	}
	fatalf(t, "want %s job(s) of task %q %s, found %d; the store holds %d job(s) of the task and %d of others:\n%s",
		want, task.Name(), what, len(found), len(ofTask), len(all)-len(ofTask), table(all, matched, task.Name()))
	return nil
}

// table lists jobs one a line, those of the task first, marking matches.
func table(all []*storage.Job, matched map[uuid.UUID]bool, task string) string {
	if len(all) == 0 {
		return "  (no jobs)\n"
	}
	var sorted []*storage.Job
	for _, j := range all {
		if j.Task == task {
			sorted = append(sorted, j)
		}
	}
	for _, j := range all {
		if j.Task != task {
			sorted = append(sorted, j)
		}
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for i, j := range sorted {
		if i == shownJobs {
			fmt.Fprintf(tw, "\t… and %d more\n", len(sorted)-shownJobs)
			break
		}
		mark := ""
		if matched[j.ID] {
			mark = "match"
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\tqueue %s\targs %s\n", mark, j.Task, j.ID, j.State, j.Queue, j.Args)
	}
	_ = tw.Flush()
	return b.String()
}
