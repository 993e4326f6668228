package taskflow

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sync"

	"github.com/taskflow-go/taskflow/storage"
)

// Registry maps task names to their functions. Workers look up the task of
// each stored job here. Use DefaultRegistry through NewTask, or a registry of
// your own through RegisterTask (tests can then run in parallel without
// globals). A Registry is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	tasks map[string]*entry
}

// entry is a task with its type parameters erased: everything below it
// works on bytes.
type entry struct {
	name string
	// run decodes args, calls the task and encodes its result. Decode and
	// encode failures wrap ErrDecode or ErrEncode and filters.ErrBadInput.
	run  func(ctx context.Context, args []byte) ([]byte, error)
	opts taskSettings
	// partition computes the partition key of encoded args; nil when the
	// task has no PartitionBy.
	partition func(args []byte) (string, error)
}

// partitionOf sets the partition key of j, a job of the task, from its
// encoded args; e may be nil (a task unknown here).
func (e *entry) partitionOf(j *storage.Job) error {
	if e == nil || e.partition == nil {
		return nil
	}
	key, err := e.partition(j.Args)
	j.Partition = key
	return err
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{tasks: map[string]*entry{}} }

var defaultRegistry = NewRegistry()

// DefaultRegistry returns the registry NewTask registers in and workers use
// when WorkerOptions.Registry is nil.
func DefaultRegistry() *Registry { return defaultRegistry }

var taskName = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,200}$`)

func (r *Registry) add(e *entry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tasks[e.name]; ok {
		return fmt.Errorf("%w %q", ErrDuplicateTask, e.name)
	}
	r.tasks[e.name] = e
	return nil
}

func (r *Registry) lookup(name string) *entry {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.tasks[name]
}

// queues returns the queues its tasks name, sorted, without repeats.
func (r *Registry) queues() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var out []string
	for _, e := range r.tasks {
		if q := e.opts.queue; q != "" && !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

// Names returns the names of the registered tasks, in no particular order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.tasks))
	for n := range r.tasks {
		out = append(out, n)
	}
	return out
}
