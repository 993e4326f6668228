package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// EnforcesUniqueKeys implements [storage.UniqueKeys].
func (s *Store) EnforcesUniqueKeys() {}

// ResolvesContinuations implements [storage.Continuations].
func (s *Store) ResolvesContinuations() {}

// BatchProgress implements [storage.Batches]. It reads the batch's
// members a page at a time (see listing.go).
func (s *Store) BatchProgress(ctx context.Context, id uuid.UUID) (map[states.Name]int64, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	counts := map[states.Name]int64{}
	seen := map[string]bool{}
	err := s.eachMember(ctx, s.k.batchMembers(id), func(ids []string) error {
		got, err := s.fieldOf(ctx, ids, "s")
		for i, st := range got {
			if st != "" && !seen[ids[i]] {
				seen[ids[i]] = true
				counts[states.Name(st)]++
			}
		}
		return err
	})
	if err != nil {
		return nil, wrap("batch progress", err)
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("redisstore: batch %s: %w", id, storage.ErrNotFound)
	}
	return counts, nil
}

// ListBatches implements [storage.BatchLister]. Batches live on shard 0
// (see [Sharded]), in the sorted set of batch IDs that their first job
// adds them to and their last job's removal takes them out of (every
// score 0, so the set is ordered by the IDs' text, the IDs' order); a page
// is one range of it by text from the cursor. Batches created by a
// version of taskflow that kept no such set are not listed.
func (s *Store) ListBatches(ctx context.Context, p *storage.BatchListParams) ([]uuid.UUID, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	by := &redis.ZRangeBy{Min: "-", Max: "+", Count: int64(max(p.Limit, 0))} // a zero count: no LIMIT
	rangeBy := s.rdb.ZRevRangeByLex
	if p.Backward {
		rangeBy = s.rdb.ZRangeByLex
	}
	if p.Cursor != uuid.Nil {
		if p.Backward {
			by.Min = "(" + p.Cursor.String()
		} else {
			by.Max = "(" + p.Cursor.String()
		}
	}
	got, err := rangeBy(ctx, s.k.batches(), by).Result()
	if err != nil {
		return nil, wrap("list batches", err)
	}
	ids := make([]uuid.UUID, 0, len(got))
	for _, v := range got {
		id, err := uuid.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("redisstore: list batches: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// stateCounts reads a reply of state, count pairs.
func stateCounts(res any) (map[states.Name]int64, error) {
	a, _ := res.([]any)
	out := make(map[states.Name]int64, len(a)/2)
	for i := 0; i+1 < len(a); i += 2 {
		name, _ := a[i].(string)
		n, ok := a[i+1].(int64)
		if !ok {
			return nil, fmt.Errorf("redisstore: unexpected count %v", a[i+1])
		}
		out[states.Name(name)] = n
	}
	return out, nil
}

// UpsertRecurring implements [storage.Recurring].
func (s *Store) UpsertRecurring(ctx context.Context, r *storage.RecurringJob) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	def, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("redisstore: encode recurring job %q: %w", r.ID, err)
	}
	now := s.now()
	created := r.CreatedAt
	if created.IsZero() {
		created = now
	}
	updated := r.UpdatedAt
	if updated.IsZero() {
		updated = now
	}
	err = upsertScript.Run(ctx, s.rdb, []string{s.k.recurring(r.ID)}, s.k.prefix, r.ID, def, r.Spec, r.TimeZone,
		micros(r.NextRun), micros(r.LastRun), idOrEmpty(r.LastJobID), flag(r.Paused), micros(created), micros(updated)).Err()
	return wrap("upsert recurring", err)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// RemoveRecurring implements [storage.Recurring].
func (s *Store) RemoveRecurring(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.k.recurring(id))
		p.ZRem(ctx, s.k.recurringIDs(), id)
		p.ZRem(ctx, s.k.recurringNext(), id)
		return nil
	})
	if err != nil {
		return wrap("remove recurring", err)
	}
	if del.Val() == 0 {
		return fmt.Errorf("redisstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// GetRecurring implements [storage.Recurring].
func (s *Store) GetRecurring(ctx context.Context, id string) (*storage.RecurringJob, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.k.recurring(id)).Result()
	if err != nil {
		return nil, wrap("get recurring", err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("redisstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	return decodeRecurring(m)
}

// decodeRecurring decodes a definition's hash: the definition as declared,
// with its schedule kept apart.
func decodeRecurring(m map[string]string) (*storage.RecurringJob, error) {
	r := &storage.RecurringJob{}
	if err := json.Unmarshal([]byte(m["def"]), r); err != nil {
		return nil, fmt.Errorf("redisstore: decode recurring job: %w", err)
	}
	r.NextRun, r.LastRun = fromMicros(m["next"]), fromMicros(m["last"])
	r.LastJobID, _ = uuid.Parse(m["lastjob"])
	r.Paused = m["paused"] == "1"
	r.CreatedAt, r.UpdatedAt = fromMicros(m["cat"]), fromMicros(m["uat"])
	return r, nil
}

// recurringByID reads definitions in one round trip, skipping any removed
// meanwhile.
func (s *Store) recurringByID(ctx context.Context, ids []string) ([]*storage.RecurringJob, error) {
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.k.recurring(id))
		}
		return nil
	})
	if err != nil {
		return nil, wrap("read recurring", err)
	}
	out := make([]*storage.RecurringJob, 0, len(ids))
	for _, c := range cmds {
		if len(c.Val()) == 0 {
			continue
		}
		r, err := decodeRecurring(c.Val())
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// ListRecurring implements [storage.Recurring].
func (s *Store) ListRecurring(ctx context.Context) ([]*storage.RecurringJob, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ids, err := s.rdb.ZRange(ctx, s.k.recurringIDs(), 0, -1).Result()
	if err != nil {
		return nil, wrap("list recurring", err)
	}
	return s.recurringByID(ctx, ids)
}

// DueRecurring implements [storage.Recurring].
func (s *Store) DueRecurring(ctx context.Context, now time.Time, limit int) ([]*storage.RecurringJob, time.Time, error) {
	if err := s.begin(ctx); err != nil {
		return nil, time.Time{}, err
	}
	first, err := s.rdb.ZRangeWithScores(ctx, s.k.recurringNext(), 0, int64(limit)).Result()
	if err != nil {
		return nil, time.Time{}, wrap("due recurring", err)
	}
	cutoff := float64(now.UnixMicro())
	var (
		ids  []string
		next time.Time
	)
	for _, z := range first {
		if z.Score <= cutoff && len(ids) < limit {
			ids = append(ids, fmt.Sprint(z.Member))
			continue
		}
		next = time.UnixMicro(int64(z.Score)).UTC()
		break
	}
	due, err := s.recurringByID(ctx, ids)
	if err != nil {
		return nil, time.Time{}, err
	}
	// Definitions are paused or moved by scripts, but a reader between them
	// may see one out of date: keep only what is due by its own hash.
	due = slices.DeleteFunc(due, func(r *storage.RecurringJob) bool { return r.Paused || r.NextRun.IsZero() || r.NextRun.After(now) })
	return due, next, nil
}

// FireRecurring implements [storage.Recurring].
func (s *Store) FireRecurring(ctx context.Context, p *storage.FireParams) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	args, err := s.header(s.clock(p.Now), 0, 6+len(p.Jobs)*30)
	if err != nil {
		return err
	}
	args = append(args, p.ID, micros(p.ExpectedNext), micros(p.NextRun), micros(p.LastRun), idOrEmpty(p.LastJobID))
	if args, err = appendJobs(args, p.Jobs); err != nil {
		return err
	}
	res, err := s.run(ctx, "fire recurring", fireFunc, args)
	if err != nil {
		return err
	}
	if _, err := createResult(res, nil); err != nil {
		if errors.Is(err, storage.ErrStateConflict) {
			return fmt.Errorf("redisstore: recurring job %q was fired or changed meanwhile: %w", p.ID, storage.ErrStateConflict)
		}
		return err
	}
	return nil
}

// SetRecurringPaused implements [storage.Recurring].
func (s *Store) SetRecurringPaused(ctx context.Context, id string, paused bool, nextRun time.Time) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	n, err := pauseScript.Run(ctx, s.rdb, []string{s.k.recurring(id)}, s.k.prefix, id, flag(paused), micros(nextRun)).Int()
	if err != nil {
		return wrap("pause recurring", err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	return nil
}

// TryLock implements [storage.Locker]. The lock is a key that expires
// after ttl by the Redis server's clock.
func (s *Store) TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := s.begin(ctx); err != nil {
		return false, err
	}
	ms := max(ttl.Milliseconds(), 1)
	n, err := lockScript.Run(ctx, s.rdb, []string{s.k.lock(key)}, owner, ms).Int()
	if err != nil {
		return false, wrap("lock", err)
	}
	return n == 1, nil
}

// Unlock implements [storage.Locker].
func (s *Store) Unlock(ctx context.Context, key, owner string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	err := unlockScript.Run(ctx, s.rdb, []string{s.k.lock(key)}, owner).Err()
	if errors.Is(err, redis.Nil) {
		err = nil
	}
	return wrap("unlock", err)
}

// ListWorkers implements [storage.Workers]. Heartbeats are stamped with the
// Redis server's clock.
func (s *Store) ListWorkers(ctx context.Context) ([]*storage.WorkerInfo, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var (
		infos *redis.MapStringStringCmd
		beats *redis.ZSliceCmd
	)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		infos = p.HGetAll(ctx, s.k.workers())
		beats = p.ZRangeWithScores(ctx, s.k.heartbeats(), 0, -1)
		return nil
	})
	if err != nil {
		return nil, wrap("list workers", err)
	}
	at := make(map[string]time.Time, len(beats.Val()))
	for _, z := range beats.Val() {
		at[fmt.Sprint(z.Member)] = time.UnixMicro(int64(z.Score)).UTC()
	}
	out := make([]*storage.WorkerInfo, 0, len(infos.Val()))
	for id, v := range infos.Val() {
		w := &storage.WorkerInfo{}
		if err := json.Unmarshal([]byte(v), w); err != nil {
			return nil, fmt.Errorf("redisstore: decode worker %q: %w", id, err)
		}
		w.HeartbeatAt = at[id]
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b *storage.WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// RemoveWorker implements [storage.Workers].
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, s.k.workers(), id)
		p.ZRem(ctx, s.k.heartbeats(), id)
		return nil
	})
	return wrap("remove worker", err)
}

// RemoveDeadWorkers implements [storage.Workers].
func (s *Store) RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	args, err := s.header(s.now(), 0, 1)
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, "remove dead workers", deadFunc, append(args, strconv.FormatInt(timeout.Microseconds(), 10)))
	if err != nil {
		return nil, err
	}
	dead := pairs(res)
	slices.Sort(dead)
	return dead, nil
}
