package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// TestCommandsOnSQLite: the commands work on a SQLite file given by
// --store, by --database (its older name) or by TASKFLOW_STORE.
func TestCommandsOnSQLite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, path)
	require.NoError(t, err)
	reg := taskflow.NewRegistry()
	task, err := taskflow.RegisterTask(reg, "greet", func(context.Context, string) (string, error) { return "hi", nil })
	require.NoError(t, err)
	c, err := taskflow.NewClient(s, taskflow.ClientOptions{})
	require.NoError(t, err)
	h, err := task.On(c).Enqueue(ctx, "ada")
	require.NoError(t, err)
	require.NoError(t, s.Close())
	url := "sqlite://" + path

	tests := []struct {
		name string
		env  string
		args []string
		code int
		want string
	}{
		{"StatsByStoreFlag", "", []string{"stats", "--store", url}, 0, "enqueued    1"},
		{"JobsListByDatabaseFlag", "", []string{"jobs", "list", "--database", url}, 0, h.ID.String()},
		{"JobShowByEnv", url, []string{"jobs", "show", h.ID.String()}, 0, "greet"},
		{"PauseQueue", "", []string{"queues", "pause", "default", "--store", url}, 0, ""},
		{"QueuesShowPaused", "", []string{"queues", "--store", url, "--json"}, 0, `"paused": true`},
		{"MigrateUpIsANoOp", "", []string{"migrate", "up", "--store", url}, 0, fmt.Sprintf("at version %d already", len(sqlitestore.Migrations()))},
		{"MigrateStatus", "", []string{"migrate", "status", "--store", url}, 0, fmt.Sprintf("is up to date (version %d)", len(sqlitestore.Migrations()))},
		{"MissingDirectory", "", []string{"stats", "--store", "sqlite:///no/such/dir/jobs.db"}, 1, "directory does not exist"},
		{"UnknownScheme", "", []string{"stats", "--store", "mysql://localhost/jobs"}, 1, "unknown store URL scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env []string
			if tt.env != "" {
				env = []string{"TASKFLOW_STORE=" + tt.env}
			}
			r := taskflowEnv(t, env, tt.args...)
			require.Equal(t, tt.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			require.Contains(t, r.stdout+r.stderr, tt.want)
		})
	}
}
