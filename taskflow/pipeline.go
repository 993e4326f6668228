package taskflow

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// pipeline holds the filters that apply to one task, sorted by the hooks
// they implement, in the documented order: global filters first, then the
// task's.
type pipeline struct {
	client []filters.ClientFilter
	server []filters.ServerFilter
	elect  []filters.ElectStateFilter
	apply  []filters.ApplyStateFilter
}

func newPipeline(lists ...[]filters.Filter) *pipeline {
	p := &pipeline{}
	for _, l := range lists {
		for _, f := range l {
			if c, ok := f.(filters.ClientFilter); ok {
				p.client = append(p.client, c)
			}
			if s, ok := f.(filters.ServerFilter); ok {
				p.server = append(p.server, s)
			}
			if e, ok := f.(filters.ElectStateFilter); ok {
				p.elect = append(p.elect, e)
			}
			if a, ok := f.(filters.ApplyStateFilter); ok {
				p.apply = append(p.apply, a)
			}
		}
	}
	return p
}

// electState runs the election and returns the transition that stores its
// outcome.
func (p *pipeline) electState(ctx context.Context, ec *filters.ElectStateContext) (storage.Transition, error) {
	for _, f := range p.elect {
		f.OnStateElection(ctx, ec)
	}
	st := ec.Candidate()
	data, err := states.Marshal(st)
	if err != nil {
		return storage.Transition{}, err
	}
	tr := storage.Transition{ID: ec.Job.ID(), To: st.Name(), Data: data, Reason: st.Why()}
	for _, s := range ec.Traversed() {
		rec, err := storage.NewStateRecord(s, ec.Now)
		if err != nil {
			return storage.Transition{}, err
		}
		tr.Traversed = append(tr.Traversed, rec)
	}
	switch s := st.(type) {
	case states.Scheduled:
		tr.RunAt = s.EnqueueAt
	case states.Enqueued:
		tr.Queue = s.Queue
	}
	return tr, nil
}

// applied tells the apply-state filters of a stored change.
func (p *pipeline) applied(ctx context.Context, job *storage.Job, from states.Name, to states.State) {
	if len(p.apply) == 0 {
		return
	}
	ac := &filters.ApplyStateContext{Job: filters.NewJob(job), From: from, State: to}
	for _, f := range p.apply {
		f.OnStateApplied(ctx, ac)
	}
}

// creating runs the OnCreating hooks and the election of the initial state
// (initial, moved to the job's queue if a filter moved it) of new jobs,
// each job on its own copy of its parameters.
func (p *pipeline) creating(ctx context.Context, jobs []*storage.Job, initial states.State, now time.Time) error {
	if len(p.client) == 0 && len(p.elect) == 0 {
		return nil
	}
	for _, j := range jobs {
		j.Params = maps.Clone(j.Params) // filters may edit one job's params
		cc := filters.NewCreatingContext(j)
		for _, f := range p.client {
			if err := f.OnCreating(ctx, cc); err != nil {
				return fmt.Errorf("taskflow: create job of %q: %w", j.Task, err)
			}
			if reason, ok := cc.Canceled(); ok {
				return fmt.Errorf("%w: job of %q: %s", ErrCanceled, j.Task, reason)
			}
		}
		if err := ValidateQueue(j.Queue); err != nil {
			return fmt.Errorf("taskflow: a creating filter moved a job of %q: %w", j.Task, err)
		}
		st := initial
		if q, ok := st.(states.Enqueued); ok && q.Queue != j.Queue {
			q.Queue = j.Queue // a creating filter moved the job
			st = q
			data, err := states.Marshal(st)
			if err != nil {
				return err
			}
			j.StateData = data
		}
		if len(p.elect) == 0 {
			continue
		}
		tr, err := p.electState(ctx, filters.NewElectStateContext(filters.NewJob(j), "", st, nil, now))
		if err != nil {
			return err
		}
		if len(tr.Traversed) > 0 {
			return fmt.Errorf("%w: an elect-state filter replaced the initial state of a %q job; use OnCreating", ErrInvalidOption, j.Task)
		}
		j.State, j.StateData = tr.To, tr.Data
		if tr.Queue != "" {
			j.Queue = tr.Queue
		}
	}
	return nil
}

// created runs the OnCreated hooks, in reverse order, once storing jobs
// ended with err, and tells the apply-state filters of each job stored as
// itself (ids[i] is the ID that stands for jobs[i]; nil ids: unknown, and
// only jobs without a unique key are known to be stored).
func (p *pipeline) created(ctx context.Context, jobs []*storage.Job, ids []uuid.UUID, err error, known *knownState) {
	if len(p.client) > 0 {
		cs := make([]filters.CreatedContext, len(jobs)) // one allocation for the call
		for i := len(p.client) - 1; i >= 0; i-- {
			for k, j := range jobs {
				cs[k] = filters.CreatedContext{Job: filters.NewJob(j), Err: err}
				p.client[i].OnCreated(ctx, &cs[k])
			}
		}
	}
	if err != nil || len(p.apply) == 0 {
		return
	}
	for i, j := range jobs {
		if ids == nil && j.UniqueKey != "" || ids != nil && ids[i] != j.ID {
			continue
		}
		if st, derr := known.of(j); derr == nil {
			p.applied(ctx, j, "", st)
		}
	}
}

// knownState is a decoded state and the encoding it was decoded from, so
// that the jobs of one call, which share their encoded state unless a
// filter changed it, decode it once, or not at all when it is the state
// they were built from.
type knownState struct {
	data []byte
	st   states.State
}

// of returns j's current state.
func (k *knownState) of(j *storage.Job) (states.State, error) {
	if k.st != nil && k.st.Name() == j.State && len(j.StateData) > 0 &&
		len(j.StateData) == len(k.data) && &j.StateData[0] == &k.data[0] {
		return k.st, nil
	}
	st, err := j.CurrentState()
	if err == nil {
		k.data, k.st = j.StateData, st
	}
	return st, err
}
