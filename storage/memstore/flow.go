package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.UniqueKeys    = (*Store)(nil)
	_ storage.Continuations = (*Store)(nil)
	_ storage.Batches       = (*Store)(nil)
	_ storage.BatchLister   = (*Store)(nil)
	_ storage.Recurring     = (*Store)(nil)
	_ storage.Locker        = (*Store)(nil)
	_ storage.Workers       = (*Store)(nil)
)

// batch counts the jobs of one batch.
type batch struct{ total, finished, succeeded int }

type lock struct {
	owner string
	until time.Time
}

func (s *Store) uniqueHolderLocked(key string, now time.Time) *record {
	id, ok := s.unique[key]
	if !ok {
		return nil
	}
	if r := s.jobs[id]; r != nil && storage.HoldsUniqueKey(&r.Job, now) {
		return r
	}
	delete(s.unique, key)
	return nil
}

func (s *Store) parentExistsLocked(id uuid.UUID) bool {
	return s.jobs[id] != nil || s.batches[id] != nil
}

// parentInCall reports whether the job or batch id is among the jobs a
// Create call stores (ids[i] is jobs[i].ID for those; a unique key's holder
// otherwise).
func parentInCall(id uuid.UUID, jobs []*storage.Job, ids []uuid.UUID) bool {
	for i, j := range jobs {
		if ids[i] == j.ID && (j.ID == id || j.BatchID == id) {
			return true
		}
	}
	return false
}

// parentOutcomeLocked reports whether the job or batch id has finished,
// and whether with success.
func (s *Store) parentOutcomeLocked(id uuid.UUID) (finished, success bool) {
	if r := s.jobs[id]; r != nil {
		return r.State.Finished(), r.State == states.NameSucceeded
	}
	if b := s.batches[id]; b != nil {
		return b.finished == b.total, b.succeeded == b.total
	}
	return false, false
}

// batchAccountLocked keeps the counts of j's batch as j moves from state
// from ("" for a new job) to state to ("" for a removed job).
func (s *Store) batchAccountLocked(j *storage.Job, from, to states.Name) {
	if j.BatchID == uuid.Nil {
		return
	}
	b := s.batches[j.BatchID]
	if b == nil {
		b = &batch{}
		s.batches[j.BatchID] = b
	}
	step := func(n states.Name, d int) {
		switch {
		case n == "":
			b.total += d
			return
		case n == states.NameSucceeded:
			b.succeeded += d
		}
		if n.Finished() {
			b.finished += d
		}
	}
	if from == "" {
		step("", 1)
	} else {
		step(from, -1)
	}
	if to == "" {
		step("", -1)
	} else {
		step(to, 1)
	}
	if b.total == 0 {
		delete(s.batches, j.BatchID)
	}
}

// removeLocked deletes a job and everything that points at it.
func (s *Store) removeLocked(r *record) {
	s.unplaceLocked(r)
	if r.UniqueKey != "" && s.unique[r.UniqueKey] == r.ID {
		delete(s.unique, r.UniqueKey)
	}
	s.batchAccountLocked(&r.Job, r.State, "")
	delete(s.jobs, r.ID)
	delete(s.logs, r.ID)
	delete(s.progress, r.ID)
}

// awaitLocked files an Awaiting job under its parent, or resolves it at
// once when the parent has already finished.
func (s *Store) awaitLocked(r *record, now time.Time, retention time.Duration) storage.Topic {
	if finished, success := s.parentOutcomeLocked(r.ParentID); finished {
		return s.resolveLocked(r, success, now, retention)
	}
	s.awaiting[r.ParentID] = append(s.awaiting[r.ParentID], r.ID)
	return 0
}

// finishedLocked resolves the continuations of a job that has just
// finished, and of its batch if the batch has finished with it.
func (s *Store) finishedLocked(j *storage.Job, now time.Time, retention time.Duration) storage.Topic {
	wake := s.resolveChildrenLocked(j.ID, j.State == states.NameSucceeded, now, retention)
	if j.BatchID != uuid.Nil {
		if b := s.batches[j.BatchID]; b != nil && b.finished == b.total {
			wake |= s.resolveChildrenLocked(j.BatchID, b.succeeded == b.total, now, retention)
		}
	}
	return wake
}

func (s *Store) resolveChildrenLocked(parent uuid.UUID, success bool, now time.Time, retention time.Duration) storage.Topic {
	children := s.awaiting[parent]
	if len(children) == 0 {
		return 0
	}
	delete(s.awaiting, parent)
	var wake storage.Topic
	for _, id := range children {
		if r := s.jobs[id]; r != nil && r.State == states.NameAwaiting && r.ParentID == parent {
			wake |= s.resolveLocked(r, success, now, retention)
		}
	}
	return wake
}

// resolveLocked moves an Awaiting job on: to Enqueued when its condition
// holds, else to Deleted, which finishes it in turn. It returns the topics
// to wake.
func (s *Store) resolveLocked(r *record, success bool, now time.Time, retention time.Duration) storage.Topic {
	var aw states.Awaiting
	if st, err := states.Unmarshal(states.NameAwaiting, r.StateData); err == nil {
		aw = st.(states.Awaiting)
	}
	if aw.On.Holds(success) {
		if p := s.jobs[r.ParentID]; aw.ArgsFromResult && p != nil && p.State == states.NameSucceeded {
			if st, err := p.CurrentState(); err == nil {
				r.Args = st.(states.Succeeded).Result
			}
		}
		const reason = "parent finished"
		data, _ := states.Marshal(states.Enqueued{Queue: r.Queue, EnqueuedAt: now, Reason: reason})
		s.moveLocked(r, states.NameEnqueued, data, reason, now)
		return storage.TopicEnqueued
	}
	const reason = "continuation condition was not met"
	data, _ := states.Marshal(states.Deleted{DeletedAt: now, Reason: reason})
	if retention > 0 {
		r.ExpireAt = now.Add(retention)
	}
	s.moveLocked(r, states.NameDeleted, data, reason, now)
	return s.finishedLocked(&r.Job, now, retention)
}

// EnforcesUniqueKeys implements [storage.UniqueKeys].
func (s *Store) EnforcesUniqueKeys() {}

// ResolvesContinuations implements [storage.Continuations].
func (s *Store) ResolvesContinuations() {}

// BatchProgress implements [storage.Batches].
func (s *Store) BatchProgress(ctx context.Context, id uuid.UUID) (map[states.Name]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.batches[id] == nil {
		return nil, fmt.Errorf("memstore: batch %s: %w", id, storage.ErrNotFound)
	}
	out := map[states.Name]int64{}
	for _, r := range s.jobs {
		if r.BatchID == id {
			out[r.State]++
		}
	}
	return out, nil
}

// ListBatches implements [storage.BatchLister].
func (s *Store) ListBatches(ctx context.Context, p *storage.BatchListParams) ([]uuid.UUID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	walk := func(a, b uuid.UUID) int { return compareID(b, a) } // newest first
	if p.Backward {
		walk = compareID
	}
	var ids []uuid.UUID
	s.mu.Lock()
	for id := range s.batches {
		if p.Cursor == uuid.Nil || walk(p.Cursor, id) < 0 {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(ids, walk)
	if p.Limit > 0 {
		ids = ids[:min(p.Limit, len(ids))]
	}
	return ids, nil
}

// UpsertRecurring implements [storage.Recurring].
func (s *Store) UpsertRecurring(ctx context.Context, in *storage.RecurringJob) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := *in
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.recurring[r.ID]; old != nil {
		if old.Spec == r.Spec && old.TimeZone == r.TimeZone {
			r.NextRun, r.LastRun, r.LastJobID, r.Paused = old.NextRun, old.LastRun, old.LastJobID, old.Paused
		}
		r.CreatedAt = old.CreatedAt
	}
	s.recurring[r.ID] = &r
	s.wake(storage.TopicRecurring)
	return nil
}

// RemoveRecurring implements [storage.Recurring].
func (s *Store) RemoveRecurring(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recurring[id] == nil {
		return fmt.Errorf("memstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	delete(s.recurring, id)
	return nil
}

// GetRecurring implements [storage.Recurring].
func (s *Store) GetRecurring(ctx context.Context, id string) (*storage.RecurringJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.recurring[id]
	if r == nil {
		return nil, fmt.Errorf("memstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	c := *r
	return &c, nil
}

// ListRecurring implements [storage.Recurring].
func (s *Store) ListRecurring(ctx context.Context) ([]*storage.RecurringJob, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return copies(s.recurring), nil
}

// DueRecurring implements [storage.Recurring].
func (s *Store) DueRecurring(ctx context.Context, now time.Time, limit int) ([]*storage.RecurringJob, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, time.Time{}, err
	}
	var due []*storage.RecurringJob
	var next time.Time
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(s.recurring)) {
		r := s.recurring[id]
		switch {
		case r.Paused || r.NextRun.IsZero():
		case !r.NextRun.After(now) && len(due) < limit:
			c := *r
			due = append(due, &c)
		case next.IsZero() || r.NextRun.Before(next):
			next = r.NextRun
		}
	}
	return due, next, nil
}

// FireRecurring implements [storage.Recurring].
func (s *Store) FireRecurring(ctx context.Context, p *storage.FireParams) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	r := s.recurring[p.ID]
	if r == nil || r.Paused || !r.NextRun.Equal(p.ExpectedNext) {
		s.mu.Unlock()
		return fmt.Errorf("memstore: recurring job %q was fired or changed meanwhile: %w", p.ID, storage.ErrStateConflict)
	}
	now := s.clock(p.Now)
	ids, wake, err := s.createLocked(p.Jobs, now, 0)
	if err == nil {
		r.NextRun, r.LastRun, r.UpdatedAt = p.NextRun, p.LastRun, now
		switch {
		case len(ids) > 0:
			r.LastJobID = ids[len(ids)-1]
		case p.LastJobID != uuid.Nil:
			r.LastJobID = p.LastJobID
		}
	}
	s.mu.Unlock()
	s.wake(wake)
	return err
}

// SetRecurringPaused implements [storage.Recurring].
func (s *Store) SetRecurringPaused(ctx context.Context, id string, paused bool, nextRun time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	r := s.recurring[id]
	if r == nil {
		s.mu.Unlock()
		return fmt.Errorf("memstore: recurring job %q: %w", id, storage.ErrNotFound)
	}
	r.Paused = paused
	if !paused {
		r.NextRun = nextRun
	}
	s.mu.Unlock()
	if !paused {
		s.wake(storage.TopicRecurring)
	}
	return nil
}

// TryLock implements [storage.Locker].
func (s *Store) TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.locks[key]; ok && l.owner != owner && now.Before(l.until) {
		return false, nil
	}
	s.locks[key] = lock{owner: owner, until: now.Add(ttl)}
	return true, nil
}

// Unlock implements [storage.Locker].
func (s *Store) Unlock(ctx context.Context, key, owner string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.locks[key]; ok && l.owner == owner {
		delete(s.locks, key)
	}
	return nil
}

// ListWorkers implements [storage.Workers].
func (s *Store) ListWorkers(ctx context.Context) ([]*storage.WorkerInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return copies(s.servers), nil
}

// RemoveWorker implements [storage.Workers].
func (s *Store) RemoveWorker(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.servers, id)
	s.mu.Unlock()
	return nil
}

// RemoveDeadWorkers implements [storage.Workers].
func (s *Store) RemoveDeadWorkers(ctx context.Context, timeout time.Duration) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	before := now.Add(-timeout)
	var dead []string
	s.mu.Lock()
	for id, v := range s.servers {
		if v.HeartbeatAt.Before(before) {
			dead = append(dead, id)
			delete(s.servers, id)
		}
	}
	requeued := 0
	for _, id := range dead {
		reason := "worker " + id + storage.ReasonWorkerDead
		for jid := range s.processing {
			r := s.jobs[jid]
			if r.LeaseOwner != id {
				continue
			}
			if err := s.requeueLocked(r, reason, now); err != nil {
				s.mu.Unlock()
				return nil, err
			}
			requeued++
		}
	}
	s.mu.Unlock()
	if requeued > 0 {
		s.wake(storage.TopicEnqueued)
	}
	slices.Sort(dead)
	return dead, nil
}

// copies returns copies of m's values, ordered by key.
func copies[T any](m map[string]*T) []*T {
	out := make([]*T, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		c := *m[k]
		out = append(out, &c)
	}
	return out
}
