package redisstore

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/storage"
)

// Create calls of jobs that await no parent (the others need state data
// and a retention of their own), made while maxInFlight others are on
// their way to Redis, wait, and go together in the next call, each as a
// group of its own that is stored all or none as its own call would be
// (lua/create.lua). Concurrent single enqueues then share the cost of a
// function call, and its round trip, between them; a call goes at once
// when fewer are on their way, as before.

// maxGathered bounds the jobs of the calls gathered into one.
const maxGathered = 1000

// maxInFlight is how many create calls of a store may be on their way at
// once before the next ones wait to be gathered. Two keep Redis busy while
// the answer of one comes back.
const maxInFlight = 2

// createCall is one Create call: its group of arguments (its now, then its
// jobs) and, once sent, its result.
type createCall struct {
	args  []any // room for the arguments before the group, then the group
	group []any // args[callHeader:]
	jobs  []*storage.Job
	ids   []uuid.UUID
	err   error
	done  chan struct{} // closed when the result is in, or when the call is to lead
	lead  []*createCall // set on the call that sends the next batch: the batch, itself first
}

// gatherer holds the Create calls waiting for the call on its way.
type gatherer struct {
	mu      sync.Mutex
	busy    int // calls on their way
	waiting []*createCall
}

// createGathered sends c, with the calls waiting when its turn comes, and
// returns its result.
func (s *Store) createGathered(ctx context.Context, c *createCall) ([]uuid.UUID, error) {
	g := &s.gather
	g.mu.Lock()
	if g.busy < maxInFlight {
		g.busy++
		g.mu.Unlock()
		c.lead = []*createCall{c}
	} else {
		c.done = make(chan struct{})
		g.waiting = append(g.waiting, c)
		g.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			g.mu.Lock()
			if i := slices.Index(g.waiting, c); i >= 0 {
				g.waiting = slices.Delete(g.waiting, i, i+1)
				g.mu.Unlock()
				return nil, ctx.Err()
			}
			g.mu.Unlock()
			<-c.done // taken into a batch: its outcome is decided there
		}
		if c.lead == nil {
			return c.ids, c.err
		}
	}
	s.sendCreates(ctx, c.lead)
	g.mu.Lock()
	var next []*createCall
	n := 0
	for len(g.waiting) > 0 && (n == 0 || n+len(g.waiting[0].jobs) <= maxGathered) {
		n += len(g.waiting[0].jobs)
		next = append(next, g.waiting[0])
		g.waiting = g.waiting[1:]
	}
	if len(g.waiting) == 0 {
		g.waiting = nil
	}
	if len(next) == 0 {
		g.busy--
	}
	g.mu.Unlock()
	if len(next) > 0 {
		next[0].lead = next
		close(next[0].done)
	}
	return c.ids, c.err
}

// sendCreates makes one function call of the batch of calls, the first of
// which is the caller's, and hands each its result.
func (s *Store) sendCreates(ctx context.Context, batch []*createCall) {
	if len(batch) > 1 {
		ctx = context.WithoutCancel(ctx) // the others' calls are not the caller's to cancel
	}
	args := batch[0].args
	if len(batch) > 1 {
		size := callHeader
		for _, c := range batch {
			size += len(c.group)
		}
		args = make([]any, callHeader, size)
		for _, c := range batch {
			args = append(args, c.group...)
		}
	}
	args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7] = s.k.prefix, batch[0].group[0], "0", "", "", "", "", len(batch)
	res, err := s.run(ctx, "create", createFunc, args)
	groups, _ := res.([]any)
	if err == nil && len(groups) != len(batch) {
		err = fmt.Errorf("redisstore: create: %d results for %d calls", len(groups), len(batch))
	}
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.ids, c.err = createResult(groups[i], c.jobs)
		}
		if i > 0 {
			close(c.done)
		}
	}
}

// callHeader is the number of arguments of a create call before its
// groups: the job library's header (see lua/lib.lua) and the number of
// groups.
const callHeader = 8

// newCreateCall returns the call of p, with room for the arguments before
// its group, so that a call sent alone is sent as built.
func newCreateCall(p *storage.CreateParams, now string) (*createCall, error) {
	args, err := appendJobs(append(make([]any, callHeader, callHeader+2+len(p.Jobs)*30), now), p.Jobs)
	if err != nil {
		return nil, err
	}
	return &createCall{args: args, group: args[callHeader:], jobs: p.Jobs}, nil
}
