package taskflowtest_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

type mail struct{ To string }

// TestRequireEnqueued checks passing and failing assertions on a harness
// store, and what a failure says.
func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	to := func(addr string) func(mail) bool { return func(m mail) bool { return m.To == addr } }
	tests := []struct {
		name    string
		mails   []string // jobs of the mail task, by recipient
		resizes int      // jobs of another task
		check   func(ctx context.Context, t taskflowtest.TB, store storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail]
		want    []string // recipients returned, when it passes
		// fails: patterns the failure message must match, line by line.
		fails []string
	}{
		{
			name: "OneMatches", mails: []string{"ada", "bob"},
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueued(ctx, t, s, task, to("bob"))
			},
			want: []string{"bob"},
		},
		{
			name: "NilMatchesAnyOldestFirst", mails: []string{"ada", "bob", "cy"}, resizes: 1,
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueued(ctx, t, s, task, nil)
			},
			want: []string{"ada", "bob", "cy"},
		},
		{
			name: "ExactlyN", mails: []string{"ada", "bob", "ada"},
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueuedN(ctx, t, s, task, 2, to("ada"))
			},
			want: []string{"ada", "ada"},
		},
		{
			name: "NoneWhenNoneMatch", mails: []string{"ada"},
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueuedN(ctx, t, s, task, 0, to("bob"))
			},
			want: []string{},
		},
		{
			name: "EmptyStore",
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueued(ctx, t, s, task, nil)
			},
			fails: []string{
				`^taskflowtest: want at least 1 job\(s\) of task "mail" \(any args\), found 0; the store holds 0 job\(s\) of the task and 0 of others:$`,
				`^  \(no jobs\)$`,
			},
		},
		{
			name: "OnlyOtherTasks", resizes: 2,
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueued(ctx, t, s, task, to("ada"))
			},
			fails: []string{
				`found 0; the store holds 0 job\(s\) of the task and 2 of others:$`,
				`^ +resize +[0-9a-f-]{36} +enqueued +queue default +args 640$`,
				`^ +resize +[0-9a-f-]{36} +enqueued +queue default +args 640$`,
			},
		},
		{
			name: "NoneMatchShowsWhatWasEnqueued", mails: []string{"ada", "bob"}, resizes: 1,
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueued(ctx, t, s, task, to("cy"))
			},
			fails: []string{
				`^taskflowtest: want at least 1 job\(s\) of task "mail" matching the predicate, found 0; the store holds 2 job\(s\) of the task and 1 of others:$`,
				`^ +mail +[0-9a-f-]{36} +enqueued +queue default +args {"To":"ada"}$`,
				`^ +mail +[0-9a-f-]{36} +enqueued +queue default +args {"To":"bob"}$`,
				`^ +resize +[0-9a-f-]{36} +enqueued +queue default +args 640$`,
			},
		},
		{
			name: "TooManyMarksTheMatches", mails: []string{"ada", "bob", "ada"},
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueuedN(ctx, t, s, task, 1, to("ada"))
			},
			fails: []string{
				`^taskflowtest: want 1 job\(s\) of task "mail" matching the predicate, found 2;`,
				`^ +match +mail .*"ada"}$`,
				`^ +mail .*"bob"}$`,
				`^ +match +mail .*"ada"}$`,
			},
		},
		{
			name: "LongListIsCut", mails: make([]string, 25),
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueuedN(ctx, t, s, task, 0, nil)
			},
			fails: append(append([]string{`found 25;`}, repeat(`^ +match +mail `, 20)...), `^ +… and 5 more$`),
		},
		{
			name: "StoreThatCannotList",
			check: func(ctx context.Context, t taskflowtest.TB, s storage.Store, task *taskflow.Task[mail, bool]) []taskflowtest.Enqueued[mail] {
				return taskflowtest.RequireEnqueued(ctx, t, struct{ storage.Store }{s}, task, nil)
			},
			fails: []string{`^taskflowtest: struct { storage.Store } cannot list jobs \(it implements no storage.Lister\)$`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			reg := taskflow.NewRegistry()
			mailTask, err := taskflow.RegisterTask(reg, "mail", func(context.Context, mail) (bool, error) { return true, nil })
			require.NoError(t, err)
			resize, err := taskflow.RegisterTask(reg, "resize", func(context.Context, int) (int, error) { return 0, nil })
			require.NoError(t, err)
			h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
			for _, addr := range tt.mails {
				_, err := mailTask.On(h.Client).Enqueue(ctx, mail{To: addr})
				require.NoError(t, err)
			}
			for range tt.resizes {
				_, err := resize.On(h.Client).Enqueue(ctx, 640)
				require.NoError(t, err)
			}

			var got []taskflowtest.Enqueued[mail]
			failed, msg := capture(func(ft taskflowtest.TB) { got = tt.check(ctx, ft, h.Store, mailTask) })
			if tt.fails == nil {
				require.False(t, failed, msg)
				recipients := []string{}
				for _, e := range got {
					recipients = append(recipients, e.Args.To)
					require.Equal(t, states.NameEnqueued, e.State)
					require.Equal(t, "default", e.Queue)
				}
				require.Equal(t, tt.want, recipients)
				return
			}
			require.True(t, failed)
			requireLines(t, tt.fails, msg)
		})
	}
}

// requireLines checks that the lines of msg match patterns, one each, in
// order, and that there are no more.
func requireLines(t *testing.T, patterns []string, msg string) {
	t.Helper()
	lines := regexp.MustCompile(`\n`).Split(msg, -1)
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	require.Len(t, lines, len(patterns), "message:\n%s", msg)
	for i, p := range patterns {
		require.Regexp(t, p, lines[i], "line %d of:\n%s", i, msg)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
