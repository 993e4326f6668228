package filters

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// ErrMutexTimeout means a job waited longer than Mutex.Timeout for its
// mutex. The attempt fails with it and the retry policy decides what next.
var ErrMutexTimeout = errors.New("filters: mutex wait timed out")

// Mutex is a server filter that lets at most one job per key run at a time,
// across every worker of the store (Hangfire's DisableConcurrentExecution).
// A job whose key is taken waits up to Timeout, then fails its attempt with
// ErrMutexTimeout. The lock lives in the store, expires TTL after its
// holder's last renewal (so a crashed worker cannot hold it forever), and
// is renewed while the job runs.
type Mutex struct {
	Defaults
	// Locker is the store that holds the locks; it must implement
	// storage.Locker (memstore and pgstore do).
	Locker storage.Locker
	// Key names the mutex of a job. nil means one mutex per task
	// (MutexByTask); MutexByArgs gives one per task and arguments.
	Key func(job Job) string
	// Timeout is how long a job waits for the mutex. Default: 1m.
	Timeout time.Duration
	// TTL is how long the lock outlives its holder's last renewal.
	// Default: 30s.
	TTL time.Duration
}

// MutexByTask keys a Mutex by task name.
func MutexByTask(job Job) string { return job.Task() }

// MutexByArgs keys a Mutex by task name and encoded arguments.
func MutexByArgs(job Job) string {
	sum := sha256.Sum256(job.Args())
	return job.Task() + ":" + hex.EncodeToString(sum[:16])
}

// OnPerform implements [ServerFilter].
func (m Mutex) OnPerform(ctx context.Context, c *PerformContext, next func(context.Context) error) error {
	keyOf, timeout, ttl := m.Key, m.Timeout, m.TTL
	if keyOf == nil {
		keyOf = MutexByTask
	}
	if timeout <= 0 {
		timeout = time.Minute
	}
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	key := "mutex:" + keyOf(c.Job)
	owner := fmt.Sprintf("%s/%d", c.Job.ID(), c.Job.Attempt()) // this attempt
	if err := m.acquire(ctx, key, owner, timeout, ttl); err != nil {
		return err
	}
	defer func() { _ = m.Locker.Unlock(context.WithoutCancel(ctx), key, owner) }()

	done := make(chan struct{})
	defer close(done)
	go func() { // renew while the job runs
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, _ = m.Locker.TryLock(ctx, key, owner, ttl)
			}
		}
	}()
	return next(ctx)
}

func (m Mutex) acquire(ctx context.Context, key, owner string, timeout, ttl time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		ok, err := m.Locker.TryLock(ctx, key, owner, ttl)
		if err != nil {
			return fmt.Errorf("filters: take mutex %q: %w", key, err)
		}
		if ok {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%w: %q is held by another job (waited %s)", ErrMutexTimeout, key, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(wait, left)):
		}
		wait = min(wait*2, 500*time.Millisecond)
	}
}
