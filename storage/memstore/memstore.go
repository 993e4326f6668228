// Package memstore is an in-memory taskflow store: the default for
// development, tests and single-process programs. It needs no services and
// has no dependencies, and it passes the whole storage conformance suite
// (package storagetest), so code written against it behaves the same on
// PostgreSQL. Jobs live only as long as the process.
package memstore

import (
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// Store is an in-memory [storage.Store] with every optional capability of
// package storage. The zero value is not usable; call [New]. A Store is
// safe for concurrent use.
type Store struct {
	now func() time.Time

	mu         sync.Mutex
	jobs       map[uuid.UUID]*record
	queues     map[string]*queue
	scheduled  timeHeap
	expiring   timeHeap
	processing map[uuid.UUID]struct{}
	seq        uint64
	token      int64
	unique     map[string]uuid.UUID      // unique key -> holder
	awaiting   map[uuid.UUID][]uuid.UUID // parent job or batch -> Awaiting jobs
	batches    map[uuid.UUID]*batch
	recurring  map[string]*storage.RecurringJob
	locks      map[string]lock
	servers    map[string]*storage.WorkerInfo
	paused     map[string]bool                   // paused queues
	stats      map[time.Time]*storage.StatsPoint // by minute
	logs       map[uuid.UUID][]storage.LogRecord
	progress   map[uuid.UUID]storage.Progress
	flow       *flow // nil while no limit is stored

	subMu sync.Mutex
	subs  map[chan struct{}]storage.Topic
}

var (
	_ storage.Store       = (*Store)(nil)
	_ storage.Notifier    = (*Store)(nil)
	_ storage.Lister      = (*Store)(nil)
	_ storage.Pruner      = (*Store)(nil)
	_ storage.Peeker      = (*Store)(nil)
	_ storage.Queues      = (*Store)(nil)
	_ storage.Statistics  = (*Store)(nil)
	_ storage.JobLogs     = (*Store)(nil)
	_ storage.FlowControl = (*Store)(nil)
	_ storage.HeldCounter = (*Store)(nil)
)

// Option configures a [Store].
type Option func(*Store)

// WithClock makes the store read time from now instead of time.Now. Calls
// that carry their own Now still use theirs.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		now:        time.Now,
		jobs:       make(map[uuid.UUID]*record),
		queues:     make(map[string]*queue),
		processing: make(map[uuid.UUID]struct{}),
		unique:     make(map[string]uuid.UUID),
		awaiting:   make(map[uuid.UUID][]uuid.UUID),
		batches:    make(map[uuid.UUID]*batch),
		recurring:  make(map[string]*storage.RecurringJob),
		locks:      make(map[string]lock),
		servers:    make(map[string]*storage.WorkerInfo),
		paused:     make(map[string]bool),
		stats:      make(map[time.Time]*storage.StatsPoint),
		logs:       make(map[uuid.UUID][]storage.LogRecord),
		progress:   make(map[uuid.UUID]storage.Progress),
		subs:       make(map[chan struct{}]storage.Topic),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) clock(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// Create implements [storage.Store].
func (s *Store) Create(ctx context.Context, p *storage.CreateParams) ([]uuid.UUID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	ids, wake, err := s.createLocked(p.Jobs, s.clock(p.Now), p.Retention)
	s.mu.Unlock()
	s.wake(wake)
	return ids, err
}

// createLocked stores jobs, all or none, and returns the topics to wake;
// see [storage.Store.Create].
func (s *Store) createLocked(jobs []*storage.Job, now time.Time, retention time.Duration) ([]uuid.UUID, storage.Topic, error) {
	ids := make([]uuid.UUID, len(jobs))
	var claimed map[string]uuid.UUID // unique keys taken by earlier jobs of this call
	var awaiting []*storage.Job
	for i, j := range jobs {
		ids[i] = j.ID
		if _, ok := s.jobs[j.ID]; ok {
			return nil, 0, fmt.Errorf("memstore: create job %s: %w", j.ID, storage.ErrDuplicate)
		}
		if j.UniqueKey != "" {
			if h := s.uniqueHolderLocked(j.UniqueKey, now); h != nil {
				ids[i] = h.ID
				continue
			}
			if id, ok := claimed[j.UniqueKey]; ok {
				ids[i] = id
				continue
			}
			if claimed == nil {
				claimed = map[string]uuid.UUID{}
			}
			claimed[j.UniqueKey] = j.ID
		}
		if j.State == states.NameAwaiting {
			awaiting = append(awaiting, j)
		}
	}
	for _, j := range awaiting {
		if !s.parentExistsLocked(j.ParentID) && !parentInCall(j.ParentID, jobs, ids) {
			return nil, 0, fmt.Errorf("memstore: job %s awaits %s: %w", j.ID, j.ParentID, storage.ErrNotFound)
		}
	}
	var (
		wake    storage.Topic
		reasons storage.Reasons
	)
	recs := make([]*record, 0, len(jobs))
	for i, in := range jobs {
		if ids[i] != in.ID {
			continue // a unique key's holder stands for it
		}
		rec := &record{Job: *in} // the job and its first history entries in one allocation
		n := len(s.jobs)
		s.jobs[in.ID] = rec
		if len(s.jobs) == n { // the same ID twice in one call: undo the call
			delete(s.jobs, in.ID)
			for _, r := range recs {
				s.removeLocked(r)
			}
			return nil, 0, fmt.Errorf("memstore: create job %s twice: %w", in.ID, storage.ErrDuplicate)
		}
		recs = append(recs, rec)
		j := &rec.Job
		j.UpdatedAt = j.CreatedAt
		j.LeaseOwner, j.LeaseToken, j.LeaseUntil = "", 0, time.Time{}
		rec.first[0] = storage.StateRecord{State: j.State, Reason: reasons.Of(j.State, j.StateData), Data: j.StateData, At: j.CreatedAt}
		j.History = rec.first[:1]
		if j.UniqueKey != "" {
			s.unique[j.UniqueKey] = j.ID
		}
		s.batchAccountLocked(j, "", j.State)
		wake |= s.placeLocked(rec)
	}
	for _, j := range awaiting {
		if r := s.jobs[j.ID]; r != nil && r.State == states.NameAwaiting {
			wake |= s.awaitLocked(r, now, retention)
		}
	}
	return ids, wake, nil
}

// record is how a created job is allocated: with room for its first
// history entry, so that a pending job costs one allocation.
type record struct {
	storage.Job
	first [1]storage.StateRecord
	// qseq is the sequence of the job's live queue entry; 0 when it has none.
	qseq uint64
}

// placeLocked files j in the index its state needs. It reports whether
// fetchers or schedulers should be woken.
func (s *Store) placeLocked(r *record) storage.Topic {
	j := &r.Job
	switch j.State {
	case states.NameEnqueued:
		s.seq++
		r.qseq = s.seq
		q := s.queues[j.Queue]
		if q == nil {
			q = &queue{}
			s.queues[j.Queue] = q
		}
		q.push(j.Priority, item{r: r, seq: s.seq})
		return storage.TopicEnqueued
	case states.NameScheduled:
		heap.Push(&s.scheduled, timed{at: j.RunAt, id: j.ID})
		return storage.TopicScheduled
	case states.NameProcessing:
		s.processing[j.ID] = struct{}{}
		if s.flow != nil {
			s.flow.add(j, 1)
		}
	}
	if !j.ExpireAt.IsZero() {
		heap.Push(&s.expiring, timed{at: j.ExpireAt, id: j.ID})
	}
	return 0
}

// unplaceLocked removes j from the indexes of its current state.
func (s *Store) unplaceLocked(r *record) {
	j := &r.Job
	switch j.State {
	case states.NameEnqueued:
		r.qseq = 0 // its queue entry is now stale and skipped
	case states.NameProcessing:
		delete(s.processing, j.ID)
		if s.flow != nil {
			s.flow.add(j, -1)
		}
		j.LeaseOwner, j.LeaseToken, j.LeaseUntil = "", 0, time.Time{}
	}
}

// Fetch implements [storage.Store].
func (s *Store) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.clock(p.Now)
	data, err := states.Marshal(states.Processing{StartedAt: now, ServerID: p.Owner})
	if err != nil {
		return nil, err
	}
	rec := storage.StateRecord{State: states.NameProcessing, Data: data, At: now}
	until := now.Add(p.LeaseFor)
	out := make([]*storage.Job, 0, min(p.Limit, 1024))
	s.mu.Lock()
	defer s.mu.Unlock()
	reached := p.NotAbove == nil // queues before NotAbove.Queue are not served
	for _, name := range p.Queues {
		floor, ceiling := math.MinInt, math.MaxInt
		if a := p.Above; a != nil && a.Queue == name {
			if a.Priority == math.MaxInt {
				break
			}
			floor = a.Priority + 1
		}
		if n := p.NotAbove; n != nil && n.Queue == name {
			reached, ceiling = true, n.Priority
		}
		if !reached {
			continue
		}
		q := s.queues[name]
		if s.paused[name] {
			q = nil
		}
		take := func(it item) verdict {
			r := it.r
			if r.qseq != it.seq || r.State != states.NameEnqueued {
				return stale
			}
			if s.flow != nil && !s.flow.start(&r.Job, now) {
				return blocked
			}
			r.qseq = 0
			j := &r.Job
			s.token++
			j.State, j.StateData, j.UpdatedAt = states.NameProcessing, data, now
			j.Attempt++
			j.LeaseOwner, j.LeaseToken, j.LeaseUntil = p.Owner, s.token, until
			if cap(j.History)-len(j.History) < 2 { // room for this entry and the outcome's
				j.History = append(make([]storage.StateRecord, 0, len(j.History)+2), j.History...)
			}
			j.History = append(j.History, rec)
			s.processing[j.ID] = struct{}{}
			out = append(out, j)
			return taken
		}
		for q != nil && len(out) < p.Limit && q.pop(floor, ceiling, take) {
		}
		if p.Above != nil && p.Above.Queue == name {
			break
		}
	}
	// Hand out copies, made in one allocation for the whole batch.
	copies := make([]storage.Job, len(out))
	for i, j := range out {
		copies[i] = *j
		copies[i].History = nil
		out[i] = &copies[i]
	}
	return out, nil
}

// snapshot copies j without its history. Byte slices are shared: stores and
// callers treat them as immutable.
func snapshot(j *storage.Job) *storage.Job {
	c := *j
	c.History = nil
	return &c
}

// Transition implements [storage.Store].
func (s *Store) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.clock(p.Now)
	errs := make([]error, len(p.Transitions))
	s.mu.Lock()
	if p.AllOrNothing {
		// Each change is checked against the state the changes before it
		// leave, so that a job named twice is checked as it will be.
		failed, after := false, map[uuid.UUID]states.Name{}
		for i := range p.Transitions {
			t := &p.Transitions[i]
			errs[i] = s.checkLocked(t, after)
			if errs[i] == nil {
				after[t.ID] = t.To
			}
			failed = failed || errs[i] != nil
		}
		if failed {
			s.mu.Unlock()
			return errs, nil
		}
	}
	var wake storage.Topic
	for i := range p.Transitions {
		t := &p.Transitions[i]
		if errs[i] = s.checkLocked(t, nil); errs[i] != nil {
			continue
		}
		r := s.jobs[t.ID]
		j := &r.Job
		from := j.State
		s.unplaceLocked(r)
		j.History = append(j.History, t.Traversed...)
		j.History = append(j.History, storage.StateRecord{State: t.To, Reason: t.Reason, Data: t.Data, At: now})
		j.State, j.StateData, j.UpdatedAt = t.To, t.Data, now
		if t.Refund && t.Token != 0 && j.Attempt > 0 {
			j.Attempt--
		}
		if t.Queue != "" {
			j.Queue = t.Queue
		}
		if t.To == states.NameScheduled {
			j.RunAt = t.RunAt
		}
		j.ExpireAt = time.Time{}
		if t.To.Expires() {
			j.ExpireAt = t.ExpireAt
		}
		if len(t.Params) > 0 {
			m := maps.Clone(j.Params)
			if m == nil {
				m = make(map[string]json.RawMessage, len(t.Params))
			}
			maps.Copy(m, t.Params)
			j.Params = m
		}
		s.batchAccountLocked(j, from, t.To)
		wake |= s.placeLocked(r)
		if t.To.Finished() {
			wake |= storage.TopicFinished | s.finishedLocked(j, now, p.Retention)
			s.countLocked(t.To, now)
		}
	}
	s.mu.Unlock()
	s.wake(wake)
	return errs, nil
}

// checkLocked checks transition t against its job, or, for a job in
// after, against the state earlier changes of the call leave it in (with no
// lease: a transition never grants one).
func (s *Store) checkLocked(t *storage.Transition, after map[uuid.UUID]states.Name) error {
	j, ok := s.jobs[t.ID]
	if !ok {
		return fmt.Errorf("memstore: job %s: %w", t.ID, storage.ErrNotFound)
	}
	state, token := j.State, j.LeaseToken
	if st, ok := after[t.ID]; ok {
		state, token = st, 0
	}
	if t.Token != 0 && (state != states.NameProcessing || token != t.Token || t.Owner != "" && j.LeaseOwner != t.Owner) {
		return fmt.Errorf("memstore: job %s token %d: %w", t.ID, t.Token, storage.ErrLeaseLost)
	}
	if len(t.From) > 0 && !slices.Contains(t.From, state) {
		return fmt.Errorf("memstore: job %s is %s, not %v: %w", t.ID, state, t.From, storage.ErrStateConflict)
	}
	return nil
}

// ExtendLeases implements [storage.Store].
func (s *Store) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var lost []storage.LostLease
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Worker != nil {
		v := *p.Worker
		v.HeartbeatAt = s.now()
		s.servers[v.ID] = &v
	}
	for id, token := range p.Jobs {
		j, ok := s.jobs[id]
		if !ok {
			lost = append(lost, storage.LostLease{ID: id})
			continue
		}
		if j.State != states.NameProcessing || j.LeaseToken != token || j.LeaseOwner != p.Owner {
			lost = append(lost, storage.LostLease{ID: id, State: j.State})
			continue
		}
		if !p.Until.IsZero() {
			j.LeaseUntil = p.Until
		}
	}
	return lost, nil
}

// PromoteDue implements [storage.Store].
func (s *Store) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	if err := ctx.Err(); err != nil {
		return storage.PromoteResult{}, err
	}
	now := s.clock(p.Now)
	var res storage.PromoteResult
	data := map[string][]byte{} // per queue
	s.mu.Lock()
	for s.scheduled.Len() > 0 && res.Promoted < p.Limit {
		top := s.scheduled[0]
		j, ok := s.jobs[top.id]
		if !ok || j.State != states.NameScheduled || !j.RunAt.Equal(top.at) {
			heap.Pop(&s.scheduled) // stale entry
			continue
		}
		if top.at.After(now) {
			break
		}
		heap.Pop(&s.scheduled)
		d, ok := data[j.Queue]
		if !ok {
			var err error
			d, err = states.Marshal(states.Enqueued{Queue: j.Queue, EnqueuedAt: now, Reason: "scheduled time reached"})
			if err != nil {
				s.mu.Unlock()
				return res, err
			}
			data[j.Queue] = d
		}
		s.moveLocked(j, states.NameEnqueued, d, "scheduled time reached", now)
		res.Promoted++
	}
	res.Next = s.nextScheduledLocked()
	s.mu.Unlock()
	if res.Promoted > 0 {
		s.wake(storage.TopicEnqueued)
	}
	return res, nil
}

// moveLocked is the store-initiated state change used by promotion and
// reclaiming.
func (s *Store) moveLocked(r *record, to states.Name, data []byte, reason string, now time.Time) {
	s.unplaceLocked(r)
	j := &r.Job
	s.batchAccountLocked(j, j.State, to)
	j.State, j.StateData, j.UpdatedAt = to, data, now
	j.History = append(j.History, storage.StateRecord{State: to, Reason: reason, Data: data, At: now})
	s.placeLocked(r)
}

// requeueLocked returns a job whose worker is gone to its queue.
func (s *Store) requeueLocked(r *record, reason string, now time.Time) error {
	data, err := states.Marshal(states.Enqueued{Queue: r.Queue, EnqueuedAt: now, Reason: reason})
	if err != nil {
		return err
	}
	s.moveLocked(r, states.NameEnqueued, data, reason, now)
	return nil
}

func (s *Store) nextScheduledLocked() time.Time {
	for s.scheduled.Len() > 0 {
		top := s.scheduled[0]
		if j, ok := s.jobs[top.id]; ok && j.State == states.NameScheduled && j.RunAt.Equal(top.at) {
			return top.at
		}
		heap.Pop(&s.scheduled)
	}
	return time.Time{}
}

// ReclaimExpired implements [storage.Store].
func (s *Store) ReclaimExpired(ctx context.Context, p *storage.ReclaimParams) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.clock(p.Now)
	n := 0
	s.mu.Lock()
	for id := range s.processing {
		if n >= p.Limit {
			break
		}
		j := s.jobs[id]
		if j.LeaseUntil.After(now) {
			continue
		}
		if err := s.requeueLocked(j, storage.ReasonLeaseExpired, now); err != nil {
			s.mu.Unlock()
			return n, err
		}
		n++
	}
	s.mu.Unlock()
	if n > 0 {
		s.wake(storage.TopicEnqueued)
	}
	return n, nil
}

// Get implements [storage.Store].
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, fmt.Errorf("memstore: job %s: %w", id, storage.ErrNotFound)
	}
	c := j.Job
	c.History = slices.Clone(j.History)
	return &c, nil
}

// Peek implements [storage.Peeker].
func (s *Store) Peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return nil, fmt.Errorf("memstore: job %s: %w", id, storage.ErrNotFound)
	}
	return snapshot(&j.Job), nil
}

// Subscribe implements [storage.Notifier].
func (s *Store) Subscribe(ctx context.Context, topics storage.Topic) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	s.subs[ch] = topics
	s.subMu.Unlock()
	go func() {
		<-ctx.Done()
		s.subMu.Lock()
		delete(s.subs, ch)
		close(ch)
		s.subMu.Unlock()
	}()
	return ch, nil
}

// wake wakes the subscribers to any of topics.
func (s *Store) wake(topics storage.Topic) {
	if topics == 0 {
		return
	}
	s.subMu.Lock()
	for ch, t := range s.subs {
		if t&topics != 0 {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	s.subMu.Unlock()
}

func compareID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// Count implements [storage.Lister].
func (s *Store) Count(ctx context.Context, queue string) (map[states.Name]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[states.Name]int64, len(states.Names))
	s.mu.Lock()
	for _, j := range s.jobs {
		if queue == "" || j.Queue == queue {
			out[j.State]++
		}
	}
	s.mu.Unlock()
	return out, nil
}

// DeleteExpired implements [storage.Pruner].
func (s *Store) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.clock(p.Now)
	n := 0
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.expiring.Len() > 0 && n < p.Limit {
		top := s.expiring[0]
		if top.at.After(now) {
			break
		}
		heap.Pop(&s.expiring)
		j, ok := s.jobs[top.id]
		if !ok || j.ExpireAt.IsZero() || !j.ExpireAt.Equal(top.at) {
			continue // stale entry
		}
		s.removeLocked(j)
		n++
	}
	for minute := range s.stats {
		if now.Sub(minute) > storage.StatsRetention {
			delete(s.stats, minute)
		}
	}
	if s.flow != nil { // a past GCRA time counts as none
		for c, tat := range s.flow.tat {
			if !tat.After(now.Add(-storage.RateTimeKept)) {
				delete(s.flow.tat, c)
			}
		}
	}
	return n, nil
}

// countLocked counts a job that entered state name at now.
func (s *Store) countLocked(name states.Name, now time.Time) {
	minute := storage.StatsPeriod(now, time.Minute)
	p := s.stats[minute]
	if p == nil {
		p = &storage.StatsPoint{At: minute}
		s.stats[minute] = p
	}
	switch name {
	case states.NameSucceeded:
		p.Succeeded++
	case states.NameFailed:
		p.Failed++
	case states.NameDeleted:
		p.Deleted++
	}
}

// Stats implements [storage.Statistics].
func (s *Store) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]storage.StatsPoint, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	step = max(step.Truncate(time.Minute), time.Minute)
	counted := map[time.Time]storage.StatsPoint{}
	s.mu.Lock()
	first := storage.StatsPeriod(from, step)
	for minute, p := range s.stats {
		if minute.Before(first) || !minute.Before(to) {
			continue
		}
		at := storage.StatsPeriod(minute, step)
		c := counted[at]
		c.Succeeded, c.Failed, c.Deleted = c.Succeeded+p.Succeeded, c.Failed+p.Failed, c.Deleted+p.Deleted
		counted[at] = c
	}
	s.mu.Unlock()
	return storage.FillStats(from, to, step, counted), nil
}

// Len returns how many jobs the store holds, in any state.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// QueueNames returns, sorted, the name of every queue that has held an
// Enqueued job. Unlike ListQueues it reads no job.
func (s *Store) QueueNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.queues))
}

// SetQueuePaused implements [storage.Queues].
func (s *Store) SetQueuePaused(ctx context.Context, queue string, paused bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if paused {
		s.paused[queue] = true
	} else {
		delete(s.paused, queue)
	}
	s.mu.Unlock()
	if !paused {
		s.wake(storage.TopicEnqueued)
	}
	return nil
}

// ListQueues implements [storage.Queues].
func (s *Store) ListQueues(ctx context.Context) ([]storage.QueueInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	byName := map[string]*storage.QueueInfo{}
	info := func(name string) *storage.QueueInfo {
		q := byName[name]
		if q == nil {
			q = &storage.QueueInfo{Name: name, Paused: s.paused[name]}
			byName[name] = q
		}
		return q
	}
	for name := range s.paused {
		info(name)
	}
	for _, r := range s.jobs {
		if r.State != states.NameEnqueued {
			continue
		}
		q := info(r.Queue)
		q.Enqueued++
		if q.OldestEnqueued.IsZero() || r.UpdatedAt.Before(q.OldestEnqueued) {
			q.OldestEnqueued = r.UpdatedAt
		}
	}
	out := make([]storage.QueueInfo, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b storage.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// AppendLogs implements [storage.JobLogs].
func (s *Store) AppendLogs(ctx context.Context, records []storage.LogRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		if _, ok := s.jobs[r.JobID]; ok {
			s.logs[r.JobID] = append(s.logs[r.JobID], r)
		}
	}
	return nil
}

// SetProgress implements [storage.JobLogs].
func (s *Store) SetProgress(ctx context.Context, progress []storage.Progress) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range progress {
		if _, ok := s.jobs[p.JobID]; ok {
			s.progress[p.JobID] = p
		}
	}
	return nil
}

// JobLogs implements [storage.JobLogs].
func (s *Store) JobLogs(ctx context.Context, id uuid.UUID) ([]storage.LogRecord, *storage.Progress, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[id]; !ok {
		return nil, nil, fmt.Errorf("memstore: job %s: %w", id, storage.ErrNotFound)
	}
	var p *storage.Progress
	if v, ok := s.progress[id]; ok {
		p = &v
	}
	return slices.Clone(s.logs[id]), p, nil
}
