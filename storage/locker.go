package storage

import (
	"context"
	"time"
)

// Locker is implemented by stores that offer named locks with an expiry,
// for mutual exclusion between jobs on any number of workers.
type Locker interface {
	// TryLock takes the lock key for owner until now+ttl and reports true,
	// or reports false when another owner holds it. An owner that holds the
	// lock extends it.
	TryLock(ctx context.Context, key, owner string, ttl time.Duration) (bool, error)
	// Unlock releases the lock if owner holds it.
	Unlock(ctx context.Context, key, owner string) error
}
