package taskflow

import (
	"context"

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

// perform runs fn inside the server filters, the first one outermost.
func (p *pipeline) perform(ctx context.Context, pc *filters.PerformContext, fn func(context.Context) error) error {
	next := fn
	for i := len(p.server) - 1; i >= 0; i-- {
		f, inner := p.server[i], next
		next = func(ctx context.Context) error { return f.OnPerform(ctx, pc, inner) }
	}
	return next(ctx)
}
