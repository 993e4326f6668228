package sqlitestore

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// TestMigrateDownAndUp: every version goes down and up again; at version 0
// the file holds no table; a version beyond the latest is refused.
func TestMigrateDownAndUp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	applied := func() int {
		st, err := MigrationStatus(ctx, path)
		require.NoError(t, err)
		require.Len(t, st, latestVersion)
		n := 0
		for _, m := range st {
			if m.Applied {
				n++
			}
		}
		return n
	}
	require.Equal(t, latestVersion, applied())

	require.NoError(t, MigrateTo(ctx, path, 0))
	require.Equal(t, 0, applied())
	_, err = Open(ctx, path, WithoutMigrate())
	require.ErrorIs(t, err, ErrNotMigrated)

	require.NoError(t, MigrateTo(ctx, path, latestVersion))
	require.Equal(t, latestVersion, applied())
	s, err = Open(ctx, path, WithoutMigrate())
	require.NoError(t, err)
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{enqueued()}})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	require.ErrorIs(t, MigrateTo(ctx, path, latestVersion+1), ErrUnknownVersion)
	require.ErrorIs(t, MigrateTo(ctx, path, -1), ErrUnknownVersion)
}

// TestHistoryMigration: the migration that moves history into table
// job_history keeps every job's history, data byte for byte, down and up.
func TestHistoryMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.db")
	v := slices.IndexFunc(migrations, func(m migration) bool { return m.name == "job_history" }) + 1
	require.Positive(t, v)
	s, err := Open(ctx, path)
	require.NoError(t, err)
	pending, done := enqueued(), enqueued()
	_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{pending, done}})
	require.NoError(t, err)
	got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "worker <1>", LeaseFor: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, 1)
	failed, err := states.Marshal(states.Failed{FailedAt: time.Now(), ErrorMessage: `a < b & "c"`})
	require.NoError(t, err)
	scheduled, err := states.Marshal(states.Scheduled{EnqueueAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{ID: got[0].ID, Token: got[0].LeaseToken,
		To: states.NameScheduled, Data: scheduled, RunAt: time.Now().Add(time.Hour), Reason: "retry",
		Traversed: []storage.StateRecord{{State: states.NameFailed, Reason: "boom", Data: failed, At: time.Now()}}}}})
	require.NoError(t, err)
	require.NoError(t, errs[0])
	before := map[uuid.UUID]*storage.Job{}
	for _, id := range []uuid.UUID{pending.ID, done.ID} {
		before[id], err = s.Get(ctx, id)
		require.NoError(t, err)
	}
	require.Len(t, before[got[0].ID].History, 4)
	require.NoError(t, s.Close())

	require.NoError(t, MigrateTo(ctx, path, v-1))
	require.NoError(t, MigrateTo(ctx, path, latestVersion))
	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	for id, want := range before {
		j, err := s.Get(ctx, id)
		require.NoError(t, err)
		require.Equal(t, want.History, j.History)
	}
}

// TestRecentHistoryMigration: the migration that keeps the two states a
// job left last in its row keeps every job's history, in order, down and
// up, whether the job's states are all in its row, some in job_history, or
// none anywhere yet.
func TestRecentHistoryMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jobs.db")
	v := slices.IndexFunc(migrations, func(m migration) bool { return m.name == "recent_history" }) + 1
	require.Positive(t, v)
	s, err := Open(ctx, path)
	require.NoError(t, err)
	fetch := func() *storage.Job {
		got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "worker <1>", LeaseFor: time.Minute})
		require.NoError(t, err)
		require.Len(t, got, 1)
		return got[0]
	}
	move := func(j *storage.Job, to states.State) {
		data, err := states.Marshal(to)
		require.NoError(t, err)
		errs, err := s.Transition(ctx, &storage.TransitionParams{Transitions: []storage.Transition{{ID: j.ID, Token: j.LeaseToken,
			From: []states.Name{states.NameProcessing}, To: to.Name(), Data: data, Reason: to.Why()}}})
		require.NoError(t, err)
		require.NoError(t, errs[0])
	}
	jobs := map[string]*storage.Job{"pending": enqueued(), "fetched": enqueued(), "succeeded": enqueued(), "retried": enqueued()}
	create := func(names ...string) {
		for _, name := range names { // in the order fetched
			_, err = s.Create(ctx, &storage.CreateParams{Jobs: []*storage.Job{jobs[name]}})
			require.NoError(t, err)
		}
	}
	create("retried", "succeeded", "fetched")
	retried := fetch()
	move(retried, states.Enqueued{Queue: "default", EnqueuedAt: time.Now(), Reason: `retry "1"`})
	move(fetch(), states.Succeeded{SucceededAt: time.Now()})
	fetch()
	move(fetch(), states.Succeeded{SucceededAt: time.Now(), Result: []byte(`{"a":1}`)}) // the retried job, again
	create("pending")
	before := map[string]*storage.Job{}
	for name, j := range jobs {
		before[name], err = s.Get(ctx, j.ID)
		require.NoError(t, err)
	}
	for name, n := range map[string]int{"pending": 1, "fetched": 2, "succeeded": 3, "retried": 5} {
		require.Len(t, before[name].History, n, name)
	}
	require.NoError(t, s.Close())

	require.NoError(t, MigrateTo(ctx, path, v-1))
	require.NoError(t, MigrateTo(ctx, path, latestVersion))
	s, err = Open(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	for name, want := range before {
		j, err := s.Get(ctx, want.ID)
		require.NoError(t, err)
		require.Equal(t, want.History, j.History, name)
	}
}
