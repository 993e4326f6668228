package taskflow

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// urgentEvery is the least time between two urgent fetches (see fetchLoop):
// it bounds the extra storage calls that wake-ups cause under load, and so
// adds at most this much to the pickup of an urgent job.
const urgentEvery = 5 * time.Millisecond

// fetchGrace is how long a fetch under way when the worker stops may take
// to finish.
const fetchGrace = 5 * time.Second

// fetchLoop leases jobs while there is room and hands them to the
// executors through the ready queue, until ctx is done.
//
// Besides one job per slot it leases ahead about 100 ms of work at the rate
// jobs have been finishing (at most FetchBatch), so that a worker running
// short jobs fetches in large batches, while one running long jobs leases
// next to nothing ahead and leaves the rest to other workers. It also stops
// while more outcomes wait to be stored than the completer's flushers take
// in one round: when storing outcomes is the bottleneck, the executors stay
// free (an executor never waits to hand over an outcome) and the backlog
// stays in the store, where other workers can take it.
//
// Work leased ahead, and a fetch under way, must not delay more urgent jobs
// that arrive later: see urgentLoop.
func (w *Worker) fetchLoop(ctx context.Context, wake <-chan struct{}) {
	o := &w.opts
	idleWake := make(chan struct{}, 1)
	urgentDone := make(chan struct{})
	go func() { defer close(urgentDone); w.urgentLoop(ctx, wake, idleWake) }()
	defer func() { <-urgentDone }()

	poll := time.NewTimer(0)
	defer poll.Stop()
	backoff := 50 * time.Millisecond
	outage := w.comp.Outage()
	idle := func(d time.Duration, back <-chan struct{}) bool {
		w.idle.Store(true)
		defer w.idle.Store(false)
		poll.Reset(d)
		var freed <-chan struct{}
		if w.limited {
			freed = w.slotFreed // a finished job may let a held-back one start
		}
		select {
		case <-ctx.Done():
			return false
		case <-idleWake:
		case <-freed:
		case <-poll.C:
		case <-back: // after a failure: any call of the worker succeeded
		}
		return true
	}
	var rate finishRate
	capacity := func() int64 {
		return int64(o.Concurrency) + min(int64(rate.perSecond(w.finished.Load())/10), int64(o.FetchBatch))
	}
	gather := time.NewTimer(0)
	defer gather.Stop()
	full := false // the last fetch got all it asked for: there is a backlog
	for ctx.Err() == nil {
		c := capacity()
		free := min(c-w.inflight.Load(), w.completionRoom()-w.completing.Load())
		if free <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-w.slotFreed:
			}
			continue
		}
		// Under load, wait briefly for a quarter of the room to free up, so
		// that each storage call leases many jobs instead of a few.
		if minFetch := max(1, c/4); free < minFetch {
			gather.Reset(time.Millisecond)
			for waiting := true; waiting && free < minFetch; free = min(c-w.inflight.Load(), w.completionRoom()-w.completing.Load()) {
				select {
				case <-ctx.Done():
					return
				case <-w.slotFreed:
				case <-gather.C:
					waiting = false
				}
			}
			if free <= 0 {
				continue
			}
		}
		limit := int(min(free, int64(o.FetchBatch)))
		n, err := w.fetchBulk(ctx, limit, wake != nil && full)
		full = n == limit
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			outage.Failed()
			w.log.Warn("taskflow: fetching jobs failed", "err", err, "retry_in", backoff)
			if !idle(backoff, outage.Back()) {
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		outage.Succeeded()
		backoff = 50 * time.Millisecond
		if n < limit && !idle(w.pollEvery, nil) {
			return
		}
	}
}

// urgentLoop takes the store's wake-ups. It passes each on to an idle fetch
// loop, and, while the fetch loop is busy (fetching, or waiting for room),
// fetches at once the jobs that come before the least urgent one the worker
// holds waiting (or, with none waiting, before the last one fetched): an
// earlier queue, or a higher priority. The ready queue runs them first.
// Urgent fetches are at least urgentEvery apart, and take at most
// Concurrency jobs; when that many come, the next bulk fetch takes the rest
// in the store's order.
func (w *Worker) urgentLoop(ctx context.Context, wake <-chan struct{}, idleWake chan<- struct{}) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-wake:
			if !ok {
				return
			}
		}
		select {
		case idleWake <- struct{}{}:
		default:
		}
		if w.idle.Load() {
			continue
		}
		if wait := urgentEvery - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		last = time.Now()
		if !w.strictOrder() {
			continue
		}
		pos, ok := w.ready.least(w.opts.Queues)
		if !ok {
			pos, ok = w.frontier()
		}
		if ok {
			n, err := w.fetch(ctx, w.opts.Concurrency, &pos, nil)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("taskflow: fetching urgent jobs failed", "err", err)
			}
			if n == w.opts.Concurrency { // more may wait: the next bulk fetch takes them
				w.urgentLeft.Store(true)
			}
		}
	}
}

// frontier returns the position of the least urgent job of the last
// fetch that the fetch loop made, if it got any.
func (w *Worker) frontier() (storage.Position, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastFetched, w.fetchedAny
}

// fetchBulk leases up to limit jobs for the fetch loop. Under a backlog,
// with urgent fetches on, it takes only jobs not above the last one it
// fetched, so that a large fetch never holds up a more urgent job that
// arrives meanwhile (the urgent loop takes those at once); then, if that
// leaves room, or the urgent loop left some behind, any job.
func (w *Worker) fetchBulk(ctx context.Context, limit int, restrict bool) (int, error) {
	n := 0
	if pos, ok := w.frontier(); ok && restrict && w.strictOrder() && !w.urgentLeft.Swap(false) {
		got, err := w.fetch(ctx, limit, nil, &pos)
		if err != nil || got == limit {
			return got, err
		}
		n = got
	}
	got, err := w.fetch(ctx, limit-n, nil, nil)
	return n + got, err
}

// fetch leases up to limit jobs (limited to those above or not above a
// position, when set), registers an attempt for each and queues them for
// the executors. It returns how many it got.
//
// A stop (ctx done) does not cut the storage call short: a fetch cancelled
// in flight may still have leased jobs, which the worker would never see
// nor requeue, and which would wait for their leases to expire. It gets
// fetchGrace to finish; the jobs it leases go to the ready queue, which the
// stop empties back to the store.
func (w *Worker) fetch(ctx context.Context, limit int, above, notAbove *storage.Position) (int, error) {
	o := &w.opts
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(fetchGrace, cancel) })()
	if !w.strictOrder() {
		return w.fetchWeighed(fctx, limit)
	}
	got, err := w.store.Fetch(fctx, &storage.FetchParams{
		Queues: o.Queues, Limit: limit, Owner: o.ID, LeaseFor: o.LeaseDuration, Now: o.Clock(),
		Above: above, NotAbove: notAbove,
	})
	if err != nil || len(got) == 0 {
		return 0, err
	}
	w.took(got, above == nil)
	return len(got), nil
}

// strictOrder reports whether the worker serves its queues in the order
// given, with nothing else to weigh: then it may fetch only jobs above or
// not above a position.
func (w *Worker) strictOrder() bool {
	return len(w.opts.QueueWeights) == 0 && len(w.opts.LocalQueueConcurrency) == 0
}

// fetchWeighed leases up to limit jobs in an order drawn by the queue
// weights, leaving out the queues at their LocalQueueConcurrency: one
// storage call for all the queues, or, with local limits, one per queue,
// each for at most what its local limit leaves.
func (w *Worker) fetchWeighed(ctx context.Context, limit int) (int, error) {
	o := &w.opts
	queues := o.Queues
	if len(o.QueueWeights) > 0 {
		queues = weighedOrder(queues, o.QueueWeights, rand.Float64)
	}
	fetch := func(queues []string, n int) (int, error) {
		got, err := w.store.Fetch(ctx, &storage.FetchParams{Queues: queues, Limit: n, Owner: o.ID, LeaseFor: o.LeaseDuration, Now: o.Clock()})
		if err != nil || len(got) == 0 {
			return 0, err
		}
		w.took(got, true)
		return len(got), nil
	}
	if len(w.local) == 0 {
		return fetch(queues, limit)
	}
	total := 0
	for _, q := range queues {
		n := limit - total
		if c := w.local[q]; c != nil {
			n = min(n, o.LocalQueueConcurrency[q]-int(c.Load()))
		}
		if n <= 0 {
			continue
		}
		got, err := fetch([]string{q}, n)
		total += got
		if err != nil || total == limit {
			return total, err
		}
	}
	return total, nil
}

// weighedOrder returns queues in a random order where each queue comes
// before the others left with a chance proportional to its weight.
func weighedOrder(queues []string, weights map[string]int, random func() float64) []string {
	left := slices.Clone(queues)
	out := make([]string, 0, len(queues))
	for len(left) > 0 {
		sum := 0
		for _, q := range left {
			sum += weights[q]
		}
		pick, r := len(left)-1, random()*float64(sum)
		for i, q := range left {
			if r -= float64(weights[q]); r < 0 {
				pick = i
				break
			}
		}
		out = append(out, left[pick])
		left = slices.Delete(left, pick, pick+1)
	}
	return out
}

// took registers an attempt for each job fetched and queues them for the
// executors; bulk says the jobs came from a fetch not limited to urgent
// ones.
func (w *Worker) took(got []*storage.Job, bulk bool) {
	w.inflight.Add(int64(len(got)))
	atts := make([]attempt, len(got)) // one allocation per fetch
	ptrs := make([]*attempt, len(got))
	w.mu.Lock()
	for i, j := range got {
		a := &atts[i]
		w.holdLocked(a, j)
		ptrs[i] = a
	}
	if bulk { // stores return jobs in the order they serve them
		last := got[len(got)-1]
		w.lastFetched, w.fetchedAny = storage.Position{Queue: last.Queue, Priority: last.Priority}, true
	}
	w.mu.Unlock()
	w.ready.push(ptrs)
}

// holdLocked makes a the attempt of fetched job j that holds its lease;
// w.mu is held.
func (w *Worker) holdLocked(a *attempt, j *storage.Job) {
	a.job, a.queue, a.w = j, queueIndex(w.opts.Queues, j.Queue), w
	if len(w.opts.QueueWeights) > 0 {
		a.queue = 0 // weighed queues run in the order fetched
	}
	if c := w.local[j.Queue]; c != nil {
		c.Add(1)
	}
	a.info = RunningJob{ID: j.ID, Task: j.Task, Queue: j.Queue, Attempt: j.Attempt, Params: j.Params}
	if old := w.held[j.ID]; old != nil {
		if old.settled.Load() {
			// Its outcome is stored (or refused), but its hooks may not
			// have run yet: a's run after them.
			if old.hooked == nil {
				old.hooked = make(chan struct{})
			}
			a.after = old.hooked
		} else {
			// The job came back to a queue while an attempt of it
			// still runs here, and this worker fetched it again.
			w.loseLocked(old, states.NameProcessing)
		}
	}
	w.held[j.ID] = a
}

func queueIndex(queues []string, q string) int {
	for i, name := range queues {
		if name == q {
			return i
		}
	}
	return len(queues)
}

// finishRate estimates how many jobs per second the worker finishes, from
// a counter sampled at least 100 ms apart and smoothed.
type finishRate struct {
	at    time.Time
	count int64
	rate  float64
}

func (r *finishRate) perSecond(count int64) float64 {
	now := time.Now()
	if dt := now.Sub(r.at); dt >= 100*time.Millisecond {
		if !r.at.IsZero() {
			r.rate = (r.rate + float64(count-r.count)/dt.Seconds()) / 2
		}
		r.at, r.count = now, count
	}
	return r.rate
}

// readyQueue holds fetched attempts until an executor takes them, most
// urgent first, in the order the store serves jobs: by the worker's queue
// order, then higher priority, then fetch order.
type readyQueue struct {
	mu     sync.Mutex
	more   sync.Cond
	h      attemptHeap
	seq    uint64
	closed bool
}

func newReadyQueue() *readyQueue {
	q := &readyQueue{}
	q.more.L = &q.mu
	return q
}

func (q *readyQueue) push(as []*attempt) {
	q.mu.Lock()
	for _, a := range as {
		q.seq++
		a.seq = q.seq
		heap.Push(&q.h, a)
	}
	q.mu.Unlock()
	for range as {
		q.more.Signal()
	}
}

// pop waits for the most urgent attempt; it reports false once the queue
// is closed.
func (q *readyQueue) pop() (*attempt, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.h) == 0 && !q.closed {
		q.more.Wait()
	}
	if q.closed {
		return nil, false
	}
	return heap.Pop(&q.h).(*attempt), true
}

// least returns the position of the least urgent waiting attempt.
func (q *readyQueue) least(queues []string) (storage.Position, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.h) == 0 {
		return storage.Position{}, false
	}
	worst := q.h[0]
	for _, a := range q.h[1:] {
		if !worst.before(a) {
			continue
		}
		worst = a
	}
	return storage.Position{Queue: queues[min(worst.queue, len(queues)-1)], Priority: worst.job.Priority}, true
}

// close stops the executors from taking more and returns the attempts that
// were still waiting.
func (q *readyQueue) close() []*attempt {
	q.mu.Lock()
	left := q.h
	q.h, q.closed = nil, true
	q.mu.Unlock()
	q.more.Broadcast()
	return left
}

type attemptHeap []*attempt

func (h attemptHeap) Len() int           { return len(h) }
func (h attemptHeap) Less(i, j int) bool { return h[i].before(h[j]) }
func (h attemptHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *attemptHeap) Push(x any)        { *h = append(*h, x.(*attempt)) }
func (h *attemptHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return a
}
