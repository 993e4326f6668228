package storage

import (
	"time"
)

// HoldsUniqueKey reports whether j holds its UniqueKey at time now.
func HoldsUniqueKey(j *Job, now time.Time) bool {
	if j.UniqueKey == "" {
		return false
	}
	return !j.State.Finished() || now.Before(j.UniqueUntil)
}

// UniqueKeys is implemented by stores that enforce Job.UniqueKey and
// Job.UniqueUntil in Create: no two jobs hold one key at once, and Create
// returns the holder's ID for a job whose key is held, storing it not.
// taskflow gives a job with a UniqueKey only to a store that implements it.
type UniqueKeys interface {
	// EnforcesUniqueKeys marks the capability; it does nothing.
	EnforcesUniqueKeys()
}
