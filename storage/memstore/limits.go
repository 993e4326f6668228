package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// scope names what a limit applies to.
type scope struct {
	kind storage.LimitScope
	name string
}

// counter is what a limit counts: its scope, and for ScopePartition one
// partition.
type counter struct {
	scope
	partition string
}

// flow is the store's flow-control state: the stored limits, the
// Processing jobs each counts and the GCRA time of each rate limit.
type flow struct {
	limits  map[scope]storage.Limit
	running map[counter]int64
	tat     map[counter]time.Time
}

// applying calls fn with each limit that applies to j and the counter j
// counts under.
func (f *flow) applying(j *storage.Job, fn func(l *storage.Limit, c counter) bool) bool {
	for _, sc := range [3]scope{{storage.ScopeQueue, j.Queue}, {storage.ScopeTask, j.Task}, {storage.ScopePartition, j.Task}} {
		l, ok := f.limits[sc]
		if !ok {
			continue
		}
		c := counter{scope: sc}
		if sc.kind == storage.ScopePartition {
			c.partition = j.Partition
		}
		if !fn(&l, c) {
			return false
		}
	}
	return true
}

// add counts j as entering (1) or leaving (-1) Processing.
func (f *flow) add(j *storage.Job, n int64) {
	f.applying(j, func(l *storage.Limit, c counter) bool {
		if l.Concurrency > 0 {
			if f.running[c] += n; f.running[c] <= 0 {
				delete(f.running, c)
			}
		}
		return true
	})
}

// start reports whether j may start at now under every limit; if so, it
// counts the start.
func (f *flow) start(j *storage.Job, now time.Time) bool {
	ok := f.applying(j, func(l *storage.Limit, c counter) bool {
		if l.Concurrency > 0 && f.running[c] >= int64(l.Concurrency) {
			return false
		}
		ok, _ := storage.GCRA(*l, f.tat[c], now)
		return ok
	})
	if !ok {
		return false
	}
	f.applying(j, func(l *storage.Limit, c counter) bool {
		if l.Rate > 0 {
			_, f.tat[c] = storage.GCRA(*l, f.tat[c], now)
		}
		return true
	})
	f.add(j, 1)
	return true
}

// SetLimits implements [storage.FlowControl].
func (s *Store) SetLimits(ctx context.Context, limits []storage.Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storage.ValidateLimits(limits); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := &flow{limits: map[scope]storage.Limit{}, running: map[counter]int64{}, tat: map[counter]time.Time{}}
	if s.flow != nil {
		maps.Copy(f.limits, s.flow.limits)
		maps.Copy(f.tat, s.flow.tat)
	}
	for _, l := range limits {
		if l.IsZero() {
			delete(f.limits, scope{l.Scope, l.Name})
			continue
		}
		f.limits[scope{l.Scope, l.Name}] = l
	}
	if len(f.limits) == 0 {
		s.flow = nil
		s.wake(storage.TopicEnqueued)
		return nil
	}
	for id := range s.processing {
		f.add(&s.jobs[id].Job, 1)
	}
	s.flow = f
	s.wake(storage.TopicEnqueued) // a raised limit may let jobs start
	return nil
}

// Limits implements [storage.FlowControl].
func (s *Store) Limits(ctx context.Context) ([]storage.Limit, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limitsLocked(), nil
}

func (s *Store) limitsLocked() []storage.Limit {
	if s.flow == nil {
		return nil
	}
	out := slices.Collect(maps.Values(s.flow.limits))
	slices.SortFunc(out, func(a, b storage.Limit) int { return cmp.Compare(a.Key(), b.Key()) })
	return out
}

// LimitUsage implements [storage.FlowControl].
func (s *Store) LimitUsage(ctx context.Context) ([]storage.LimitUsage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flow == nil {
		return nil, nil
	}
	now := s.now()
	use := map[counter]*storage.LimitUsage{}
	for _, l := range s.flow.limits {
		if l.Scope != storage.ScopePartition {
			use[counter{scope: scope{l.Scope, l.Name}}] = &storage.LimitUsage{Limit: l}
		}
	}
	for _, r := range s.jobs {
		if r.State != states.NameEnqueued && r.State != states.NameProcessing {
			continue
		}
		s.flow.applying(&r.Job, func(l *storage.Limit, c counter) bool {
			u := use[c]
			if u == nil {
				u = &storage.LimitUsage{Limit: *l, Partition: c.partition}
				use[c] = u
			}
			if r.State == states.NameProcessing {
				u.Running++
			} else {
				u.Waiting++
			}
			return true
		})
	}
	out := make([]storage.LimitUsage, 0, len(use))
	for c, u := range use {
		if tat := s.flow.tat[c]; u.Limit.Rate > 0 && tat.Sub(now) > time.Duration(u.Limit.Burst)*u.Limit.Interval() {
			u.NextStart = tat.Add(-time.Duration(u.Limit.Burst) * u.Limit.Interval())
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b storage.LimitUsage) int {
		return cmp.Or(cmp.Compare(a.Limit.Key(), b.Limit.Key()), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}

// CountHeld implements [storage.HeldCounter]. It reads every job: a
// monitoring call.
func (s *Store) CountHeld(ctx context.Context) (map[string]int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	if s.flow == nil {
		return out, nil
	}
	h := storage.NewHolds(slices.Collect(maps.Values(s.flow.limits)), s.now())
	for c, tat := range s.flow.tat {
		h.Rate(c.kind, c.name, c.partition, tat)
	}
	for id := range s.processing {
		j := &s.jobs[id].Job
		h.Running(j.Queue, j.Task, j.Partition, 1)
	}
	for _, r := range s.jobs {
		if r.State == states.NameEnqueued && h.Held(r.Queue, r.Task, r.Partition) {
			out[r.Queue]++
		}
	}
	return out, nil
}
