package dashboard

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/taskflow"
)

// maxFlagged bounds the queues, and the tasks, the overview's warning
// names: a misspelt name per producer could make thousands.
const maxFlagged = 20

// taskCount is a task and how many of its waiting jobs no live worker
// runs.
type taskCount struct {
	Task string
	Jobs int
}

// unservedView is the overview's warning: the queues and tasks that have
// jobs waiting but no live worker, at most maxFlagged of each.
type unservedView struct {
	Workers int
	Queues  []taskflow.QueueInfo
	Tasks   []taskCount
	// QueuesLeftOut and TasksLeftOut count the ones not named.
	QueuesLeftOut, TasksLeftOut int
}

// unservedTTL is how long the overview reuses what Client.Unserved
// found: it reads a thousand jobs of each waiting state, which costs more
// than the rest of the overview on a large store.
const unservedTTL = countsTTL

// unservedCache keeps the last answer of Client.Unserved for unservedTTL.
type unservedCache struct {
	mu sync.Mutex
	at time.Time
	u  *taskflow.Unserved
}

// unserved reads the work no live worker can do, from the cache when it
// is fresh; nil on a store that keeps no registry of workers, where
// nothing tells.
func (h *Handler) unserved(r *http.Request) (*taskflow.Unserved, error) {
	c := &h.unservedCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < unservedTTL {
		return c.u, nil
	}
	u, err := h.client.Unserved(r.Context())
	switch {
	case errors.Is(err, taskflow.ErrNotSupported):
		c.u = nil
	case err != nil:
		return nil, err
	default:
		c.u = &u
	}
	c.at = time.Now()
	return c.u, nil
}

// queueUnserved returns what flags a queue on the queues page: jobs wait
// in it and no live worker serves it (as Client.Unserved has it, without
// reading jobs as it does). On a store that keeps no registry of workers
// it flags none.
func (h *Handler) queueUnserved(r *http.Request) (func(taskflow.QueueInfo) bool, error) {
	ws, err := h.client.Workers(r.Context())
	if errors.Is(err, taskflow.ErrNotSupported) {
		return func(taskflow.QueueInfo) bool { return false }, nil
	}
	if err != nil {
		return nil, err
	}
	return func(q taskflow.QueueInfo) bool {
		return q.Enqueued > 0 && !slices.ContainsFunc(ws, func(w taskflow.WorkerInfo) bool { return slices.Contains(w.Queues, q.Name) })
	}, nil
}

// flagged returns what flags a queue that u names.
func flagged(u *taskflow.Unserved) func(taskflow.QueueInfo) bool {
	return func(q taskflow.QueueInfo) bool {
		return u != nil && slices.ContainsFunc(u.Queues, func(f taskflow.QueueInfo) bool { return f.Name == q.Name })
	}
}

// newUnservedView returns the warning for u, or nil when all is served.
func newUnservedView(u *taskflow.Unserved) *unservedView {
	if u == nil || len(u.Queues) == 0 && len(u.Tasks) == 0 {
		return nil
	}
	v := &unservedView{Workers: u.Workers, Queues: u.Queues}
	if len(v.Queues) > maxFlagged {
		v.QueuesLeftOut, v.Queues = len(v.Queues)-maxFlagged, v.Queues[:maxFlagged]
	}
	for _, t := range slices.Sorted(maps.Keys(u.Tasks)) {
		v.Tasks = append(v.Tasks, taskCount{t, u.Tasks[t]})
	}
	slices.SortStableFunc(v.Tasks, func(a, b taskCount) int { return cmp.Compare(b.Jobs, a.Jobs) }) // most jobs first
	if len(v.Tasks) > maxFlagged {
		v.TasksLeftOut, v.Tasks = len(v.Tasks)-maxFlagged, v.Tasks[:maxFlagged]
	}
	return v
}

// waiting are the states of a job that waits for a worker, now or later.
var waiting = []states.Name{states.NameEnqueued, states.NameScheduled, states.NameAwaiting}

// noWorker says why no live worker can run j, or "" when one can, when j
// waits for none (it runs or is finished), or when the store keeps no
// registry of workers. A worker runs j when it serves j's queue and runs
// its task (a worker that does not say which tasks it runs runs any).
func (h *Handler) noWorker(r *http.Request, j *taskflow.JobInfo) (string, error) {
	if !slices.Contains(waiting, j.State.Name()) {
		return "", nil
	}
	ws, err := h.client.Workers(r.Context())
	if errors.Is(err, taskflow.ErrNotSupported) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	queue := func(w taskflow.WorkerInfo) bool { return slices.Contains(w.Queues, j.Queue) }
	task := func(w taskflow.WorkerInfo) bool { return w.Tasks == nil || slices.Contains(w.Tasks, j.Task) }
	switch {
	case len(ws) == 0:
		return "No worker is alive: the job waits until one starts.", nil
	case slices.ContainsFunc(ws, func(w taskflow.WorkerInfo) bool { return queue(w) && task(w) }):
		return "", nil
	case !slices.ContainsFunc(ws, queue):
		return fmt.Sprintf("No live worker serves the queue %q: add it to a worker's Queues.", j.Queue), nil
	case !slices.ContainsFunc(ws, task):
		return fmt.Sprintf("No live worker runs the task %q: register it with a worker, or check its name.", j.Task), nil
	default:
		return fmt.Sprintf("No live worker both serves the queue %q and runs the task %q.", j.Queue, j.Task), nil
	}
}
