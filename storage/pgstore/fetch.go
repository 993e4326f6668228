package pgstore

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

// leaseSet is the SET list of an UPDATE that leases jobs j: $1 now, $3
// owner, $4 lease (µs). fetchSQL and leaseSQL (limits.go) share it.
const leaseSet = `
		state = 'processing',
		state_data = (SELECT json_build_object('started_at', ` + clock + `, 'server_id', $3::text)),
		state_reason = NULL,
		attempt = j.attempt + 1,
		updated_at = ` + clock + `,
		lease_owner = $3,
		lease_token = nextval('{sl}.lease_token_seq'),
		lease_until = ` + clock + ` + $4::bigint * interval '1 microsecond'`

// fetchSQL: $1 now, $2 limit, $3 owner, $4 lease (µs), $5 queues (and, for fetchRange,
// $6 floors and $7 ceilings of priority per queue) → jobCols and enqueued_seq of the jobs
// leased, in no order: Fetch sorts them in the order served, which costs less in Go
// than in the statement.
//
// It leases jobs: rows are picked by a sub-select that locks and
// skips, per queue in the order given, then updated by id.
var fetchSQL = `
WITH old AS (
	SELECT p.* FROM {queues}
	CROSS JOIN LATERAL (
		SELECT ` + oldCols + `, priority, enqueued_seq FROM {s}.jobs
		WHERE state = 'enqueued' AND queue = q.name{floor}
		ORDER BY priority DESC, enqueued_seq
		LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED) p
	ORDER BY q.ord, p.priority DESC, p.enqueued_seq
	LIMIT $2
), moved AS (
	UPDATE {s}.jobs j SET ` + leaseSet + `
	WHERE j.id = ANY(ARRAY(SELECT id FROM old))
	RETURNING ` + jobRow + `, j.enqueued_seq
), ` + leaveHistory("true") + `
SELECT ` + jobCols + `, coalesce(enqueued_seq, 9223372036854775807) FROM moved`

// Fetch implements [storage.Store] with one UPDATE that locks and skips.
func (s *Store) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if p.Limit < 1 || len(p.Queues) == 0 {
		return nil, nil
	}
	if limited, err := s.hasLimits(ctx); err != nil || limited {
		if err != nil {
			return nil, err
		}
		return s.fetchLimited(ctx, p)
	}
	sql, args := s.plainFetch(p)
	if sql == "" {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, interpretError("fetch", err)
	}
	jobs, err := readFetched(rows, p.Queues)
	if err != nil {
		return nil, interpretError("fetch", err)
	}
	return jobs, nil
}

// plainFetch returns the statement of a fetch under no limit and its
// arguments; no statement when p's range of positions leaves no queue.
func (s *Store) plainFetch(p *storage.FetchParams) (string, []any) {
	args := []any{ts(p.Now), p.Limit, p.Owner, p.LeaseFor.Microseconds(), p.Queues}
	if p.Above == nil && p.NotAbove == nil {
		return s.q.fetch, args
	}
	queues, floors, ceilings := fetchRange(p.Queues, p.Above, p.NotAbove)
	if len(queues) == 0 {
		return "", nil
	}
	return s.q.fetchRange, append(args[:4], queues, floors, ceilings)
}

// readFetched reads the jobs a plain fetch leased, in the order served.
func readFetched(rows pgx.Rows, queues []string) ([]*storage.Job, error) {
	js := jobScanner{seqs: []int64{}}
	jobs, err := pgx.CollectRows(rows, js.scan)
	if err != nil {
		return nil, err
	}
	servedOrder(jobs, js.seqs, queues)
	return jobs, nil
}

// servedOrder sorts fetched jobs in the order a fetch serves them: by the
// position of their queue in queues, higher priority first, then as they
// were enqueued (seqs, the enqueued_seq of each job).
func servedOrder(jobs []*storage.Job, seqs []int64, queues []string) {
	type served struct {
		job        *storage.Job
		queue, pri int
		seq        int64
	}
	order := make([]served, len(jobs))
	for i, j := range jobs {
		order[i] = served{job: j, queue: slices.Index(queues, j.Queue), pri: j.Priority, seq: seqs[i]}
	}
	slices.SortFunc(order, func(a, b served) int {
		return cmp.Or(cmp.Compare(a.queue, b.queue), cmp.Compare(b.pri, a.pri), cmp.Compare(a.seq, b.seq))
	})
	for i, o := range order {
		jobs[i] = o.job
	}
}

// fetchRange returns the queues that a fetch limited by above and notAbove
// (either may be nil) serves, each with the least and the greatest
// priority it takes there.
func fetchRange(queues []string, above, notAbove *storage.Position) (qs []string, floors, ceilings []int32) {
	from, to := 0, len(queues)
	if notAbove != nil {
		from = max(slices.Index(queues, notAbove.Queue), 0)
	}
	if above != nil {
		if i := slices.Index(queues, above.Queue); i >= 0 {
			to = i + 1
		}
	}
	clamp := func(p int) int32 { return int32(min(max(p, math.MinInt32), math.MaxInt32)) }
	for i := from; i < to; i++ {
		floor, ceiling := int32(math.MinInt32), int32(math.MaxInt32)
		if above != nil && queues[i] == above.Queue {
			if above.Priority >= math.MaxInt32 {
				continue
			}
			floor = clamp(above.Priority + 1)
		}
		if notAbove != nil && queues[i] == notAbove.Queue {
			ceiling = clamp(notAbove.Priority)
		}
		qs, floors, ceilings = append(qs, queues[i]), append(floors, floor), append(ceilings, ceiling)
	}
	return qs, floors, ceilings
}
