package pgstore

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Failed jobs stay until a person acts, while the jobs around them are
// removed after their retention. Job ids are time-ordered, so a few Failed
// rows left in jobs would keep almost every page of jobs_pkey alive and
// the index would grow with every job ever run. The pruner moves them to
// jobs_kept (pruneSQL), and a statement that changes a job moves it back
// to jobs first (unkeep): jobs_kept holds Failed jobs only, which nothing
// but a move writes. Reads that may meet a Failed job read both tables,
// through the view jobs_all (migrations/014_kept_jobs.sql).
//
// Create inserts into jobs alone, so it does not see the ID of a kept job:
// a job created again with such an ID is stored, not refused with
// storage.ErrDuplicate. Clients give every job a new UUIDv7; only a caller
// that stores one Job twice, after it failed and was moved, meets this.

// lockJobsSQL: $1 ids → nothing. Locks the rows of ids that are in jobs,
// in id order, so that the pruner (which skips locked rows) leaves them
// there until commit.
var lockJobsSQL = `SELECT 1 FROM {s}.jobs WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE`

// unkeepSQL: $1 ids → nothing. Moves the rows of ids that are in
// jobs_kept back to jobs, locking them in id order first.
var unkeepSQL = `WITH moved AS (
	DELETE FROM {s}.jobs_kept WHERE id = ANY(ARRAY(
		SELECT id FROM {s}.jobs_kept WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE))
	RETURNING *
)
INSERT INTO {s}.jobs SELECT * FROM moved`

// unkeep makes sure that the jobs ids that exist are rows of jobs, and
// stay there until the caller's transaction (db) ends. It locks those in
// jobs first, then moves those in jobs_kept back, each in a statement of
// its own: a job that the pruner moved meanwhile is seen in jobs_kept by
// the second statement's snapshot, which one statement would miss.
func (s *Store) unkeep(ctx context.Context, db db, ids []pgtype.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := db.Exec(ctx, s.q.lockJobs, ids); err != nil {
		return err
	}
	_, err := db.Exec(ctx, s.q.unkeep, ids)
	return err
}

// mayBeKept returns the ids of the changes of ts that may find their job
// in jobs_kept: those that take no lease (a lease proves Processing) and
// may leave Failed.
func mayBeKept(ts []storage.Transition) []pgtype.UUID {
	var ids []pgtype.UUID
	for _, t := range ts {
		if t.Token == 0 && (len(t.From) == 0 || slices.Contains(t.From, states.NameFailed)) {
			ids = append(ids, uid(t.ID))
		}
	}
	return ids
}

// listFrom is the relation List reads the jobs of state st from: jobs_all
// where Failed jobs are among them, else jobs (a list of another state
// then never probes jobs_kept).
func (s *Store) listFrom(st states.Name) string {
	if st == "" || st == states.NameFailed {
		return s.q.listAll
	}
	return s.q.list
}

// listAllSQL is listFrom's relation where Failed jobs are among those listed.
var listAllSQL = `{s}.jobs_all`
