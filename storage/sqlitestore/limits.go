package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// counter is what a limit counts: its scope, and for ScopePartition one
// partition of the task.
type counter struct {
	scope     storage.LimitScope
	name      string
	partition string
}

// flow is the flow-control state one fetch works with, read in the
// writer's transaction: the stored limits, the Processing jobs each
// counter counts and the GCRA time of each. The writer is the only one to
// change jobs, so what it reads holds until it commits.
type flow struct {
	limits  map[counter]storage.Limit // by scope and name, partition empty
	running map[counter]int64
	tat     map[counter]time.Time
	changed map[counter]bool // GCRA times to store
}

// loadFlow reads the stored limits and their use; nil when there are no
// limits.
func (w *wtx) loadFlow() (*flow, error) {
	limits, err := queryLimits(w.query)
	if err != nil || len(limits) == 0 {
		return nil, err
	}
	f := &flow{limits: map[counter]storage.Limit{}, running: map[counter]int64{}, tat: map[counter]time.Time{}, changed: map[counter]bool{}}
	for _, l := range limits {
		f.limits[counter{scope: l.Scope, name: l.Name}] = l
	}
	rows, err := w.query(`SELECT queue, task, coalesce(partition_key, ''), count(*) FROM jobs WHERE state = 'processing' GROUP BY 1, 2, 3`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			c candidate
			n int64
		)
		if err := rows.Scan(&c.queue, &c.task, &c.key, &n); err != nil {
			return nil, err
		}
		f.applying(&c, func(l storage.Limit, k counter) bool {
			f.running[k] += n
			return true
		})
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rates, err := w.query(`SELECT scope, name, partition_key, tat FROM limit_rates`)
	if err != nil {
		return nil, err
	}
	defer rates.Close()
	for rates.Next() {
		var (
			k  counter
			us int64
		)
		if err := rates.Scan(&k.scope, &k.name, &k.partition, &us); err != nil {
			return nil, err
		}
		f.tat[k] = time.UnixMicro(us).UTC()
	}
	return f, rates.Err()
}

// candidate is an Enqueued job a limited fetch considers.
type candidate struct {
	id               []byte
	queue, task, key string
}

// applying calls fn with each limit that applies to c and the counter c
// counts under, until fn returns false.
func (f *flow) applying(c *candidate, fn func(l storage.Limit, k counter) bool) bool {
	for _, k := range [3]counter{{storage.ScopeQueue, c.queue, ""}, {storage.ScopeTask, c.task, ""}, {storage.ScopePartition, c.task, ""}} {
		l, ok := f.limits[k]
		if !ok {
			continue
		}
		if k.scope == storage.ScopePartition {
			k.partition = c.key
		}
		if !fn(l, k) {
			return false
		}
	}
	return true
}

// start reports whether c may start at now under every limit; if so, it
// counts the start.
func (f *flow) start(c *candidate, now time.Time) bool {
	ok := f.applying(c, func(l storage.Limit, k counter) bool {
		if l.Concurrency > 0 && f.running[k] >= int64(l.Concurrency) {
			return false
		}
		ok, _ := storage.GCRA(l, f.tat[k], now)
		return ok
	})
	if !ok {
		return false
	}
	f.applying(c, func(l storage.Limit, k counter) bool {
		f.running[k]++
		if l.Rate > 0 {
			_, f.tat[k] = storage.GCRA(l, f.tat[k], now)
			f.changed[k] = true
		}
		return true
	})
	return true
}

// saveRates stores the GCRA times the fetch moved.
func (w *wtx) saveRates(f *flow) error {
	for k := range f.changed {
		if _, err := w.exec(`INSERT INTO limit_rates (scope, name, partition_key, tat) VALUES (?, ?, ?, ?)
			ON CONFLICT (scope, name, partition_key) DO UPDATE SET tat = excluded.tat`,
			string(k.scope), k.name, k.partition, f.tat[k].UnixMicro()); err != nil {
			return err
		}
	}
	clear(f.changed)
	return nil
}

// candidatesSQL lists the Enqueued jobs of queue ?1 with a priority from ?2
// to ?3 by priority, then enqueue order: the fetch index, read without a
// sort, as far as the fetch needs.
const candidatesSQL = `SELECT id, task, coalesce(partition_key, ''), priority FROM jobs
WHERE state = 'enqueued' AND queue = ?1 AND priority BETWEEN ?2 AND ?3 ORDER BY priority DESC, seq`

// partitioned tells whether queue has Enqueued jobs with a partition key,
// which a fetch serves round robin.
const partitionedSQL = `SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'enqueued' AND queue = ? AND partition_key IS NOT NULL)`

// leaseSQL leases job ?1 as fetchSQL does; ?2 to ?5 as fetchSQL's ?6 to ?9.
const leaseSQL = `UPDATE OR FAIL jobs SET ` + shiftSQL + `, state = 'processing', state_data = NULL, state_reason = '', updated_at = ?2,
	attempt = attempt + 1, lease_owner = ?3, lease_until = ?4, lease_token = ?5, expire_at = NULL
WHERE id = ?1 AND state = 'enqueued'
RETURNING ` + jobCols

// group is a partition of a queue: the jobs of one task and partition key.
type group struct{ task, key string }

// fetchFair leases up to limit jobs of queue with a priority from floor to
// ceiling, by priority, then round robin over the partitions in the order
// of their first jobs, each partition's jobs in their enqueue order,
// skipping those a limit of f (nil for none) holds back. It reads the jobs
// in enqueue order and takes at once the first job of each partition; the
// later jobs of a partition wait in memory for their round, which comes
// once the priority's jobs are all read. A partition held back once is
// held back for the rest of the fetch: its counts only grow.
func (w *wtx) fetchFair(f *flow, queue string, floor, ceiling int64, limit int, now time.Time, owner string, until time.Time, token int64) ([]*storage.Job, error) {
	rows, err := w.query(candidatesSQL, queue, floor, ceiling)
	if err != nil {
		return nil, err
	}
	var (
		picked  [][]byte
		blocked = map[group]bool{}
		seen    = map[group]int{} // jobs of each partition read at this priority
		later   [][]candidate     // later[r]: the jobs of round r+2
		level   int64
	)
	offer := func(c *candidate) {
		g := group{c.task, c.key}
		if len(picked) >= limit || blocked[g] {
			return
		}
		if f == nil || f.start(c, now) {
			picked = append(picked, c.id)
		} else {
			blocked[g] = true
		}
	}
	rounds := func() { // the later rounds of a priority, once it is all read
		for _, round := range later {
			for i := range round {
				offer(&round[i])
			}
		}
		later = later[:0]
		clear(seen)
	}
	for len(picked) < limit && rows.Next() {
		c := candidate{queue: queue}
		var priority int64
		if err := rows.Scan(&c.id, &c.task, &c.key, &priority); err != nil {
			rows.Close()
			return nil, err
		}
		if len(seen) > 0 && priority != level {
			if rounds(); len(picked) >= limit {
				break
			}
		}
		level = priority
		g := group{c.task, c.key}
		if blocked[g] {
			continue
		}
		n := seen[g]
		seen[g] = n + 1
		if n == 0 {
			offer(&c)
			continue
		}
		for len(later) < n {
			later = append(later, nil)
		}
		later[n-1] = append(later[n-1], c)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	rounds()
	out := make([]*storage.Job, 0, len(picked))
	for _, id := range picked {
		j, err := scanJob(w.queryRow(leaseSQL, id, now.UnixMicro(), owner, until.UnixMicro(), token))
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if f != nil {
		return out, w.saveRates(f)
	}
	return out, nil
}

// queryLimits reads the stored limits, ordered by key.
func queryLimits(query func(string, ...any) (*sql.Rows, error)) ([]storage.Limit, error) {
	rows, err := query(`SELECT scope, name, concurrency, rate, period_us, burst FROM limits`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Limit
	for rows.Next() {
		var (
			l      storage.Limit
			period int64
		)
		if err := rows.Scan(&l.Scope, &l.Name, &l.Concurrency, &l.Rate, &period, &l.Burst); err != nil {
			return nil, err
		}
		l.Period = time.Duration(period) * time.Microsecond
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b storage.Limit) int { return cmp.Compare(a.Key(), b.Key()) })
	return out, rows.Err()
}

// SetLimits implements [storage.FlowControl].
func (s *Store) SetLimits(ctx context.Context, limits []storage.Limit) error {
	if err := storage.ValidateLimits(limits); err != nil {
		return err
	}
	err := s.write(ctx, func(w *wtx) error {
		for _, l := range limits {
			var err error
			if l.IsZero() {
				_, err = w.exec(`DELETE FROM limits WHERE scope = ? AND name = ?`, string(l.Scope), l.Name)
			} else {
				_, err = w.exec(`INSERT INTO limits (scope, name, concurrency, rate, period_us, burst) VALUES (?, ?, ?, ?, ?, ?)
					ON CONFLICT (scope, name) DO UPDATE SET concurrency = excluded.concurrency, rate = excluded.rate,
						period_us = excluded.period_us, burst = excluded.burst`,
					string(l.Scope), l.Name, l.Concurrency, l.Rate, l.Period.Microseconds(), l.Burst)
			}
			if err != nil {
				return err
			}
		}
		w.wake(storage.TopicEnqueued) // a raised limit may let jobs start
		return nil
	})
	return interpretError("set limits", err)
}

// Limits implements [storage.FlowControl].
func (s *Store) Limits(ctx context.Context) ([]storage.Limit, error) {
	var out []storage.Limit
	err := s.read(ctx, func(q querier) (err error) {
		out, err = queryLimits(func(query string, args ...any) (*sql.Rows, error) { return q.QueryContext(ctx, query, args...) })
		return err
	})
	return out, interpretError("limits", err)
}

// LimitUsage implements [storage.FlowControl].
func (s *Store) LimitUsage(ctx context.Context) ([]storage.LimitUsage, error) {
	var out []storage.LimitUsage
	err := s.read(ctx, func(q querier) error {
		query := func(query string, args ...any) (*sql.Rows, error) { return q.QueryContext(ctx, query, args...) }
		limits, err := queryLimits(query)
		if err != nil || len(limits) == 0 {
			return err
		}
		f := &flow{limits: map[counter]storage.Limit{}}
		use := map[counter]*storage.LimitUsage{}
		for _, l := range limits {
			k := counter{scope: l.Scope, name: l.Name}
			f.limits[k] = l
			if l.Scope != storage.ScopePartition {
				use[k] = &storage.LimitUsage{Limit: l}
			}
		}
		rows, err := query(`SELECT queue, task, coalesce(partition_key, ''), state = 'processing', count(*) FROM jobs
			WHERE state IN ('enqueued', 'processing') GROUP BY 1, 2, 3, 4`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c       candidate
				running bool
				n       int64
			)
			if err := rows.Scan(&c.queue, &c.task, &c.key, &running, &n); err != nil {
				return err
			}
			f.applying(&c, func(l storage.Limit, k counter) bool {
				u := use[k]
				if u == nil {
					u = &storage.LimitUsage{Limit: l, Partition: k.partition}
					use[k] = u
				}
				if running {
					u.Running += n
				} else {
					u.Waiting += n
				}
				return true
			})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rates, err := query(`SELECT scope, name, partition_key, tat FROM limit_rates`)
		if err != nil {
			return err
		}
		defer rates.Close()
		now := clock(time.Time{})
		for rates.Next() {
			var (
				k  counter
				us int64
			)
			if err := rates.Scan(&k.scope, &k.name, &k.partition, &us); err != nil {
				return err
			}
			u := use[k]
			if u == nil || u.Limit.Rate <= 0 {
				continue
			}
			ahead := time.Duration(u.Limit.Burst) * u.Limit.Interval()
			if tat := time.UnixMicro(us).UTC(); tat.Sub(now) > ahead {
				u.NextStart = tat.Add(-ahead)
			}
		}
		if err := rates.Err(); err != nil {
			return err
		}
		out = make([]storage.LimitUsage, 0, len(use))
		for _, u := range use {
			out = append(out, *u)
		}
		slices.SortFunc(out, func(a, b storage.LimitUsage) int {
			return cmp.Or(cmp.Compare(a.Limit.Key(), b.Limit.Key()), cmp.Compare(a.Partition, b.Partition))
		})
		return nil
	})
	return out, interpretError("limit usage", err)
}
