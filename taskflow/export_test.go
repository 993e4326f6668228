package taskflow

import "time"

// WeighedOrder exposes weighedOrder to the tests of package taskflow_test.
var WeighedOrder = weighedOrder

// SetLimitWatchEvery sets how often workers check their limits for
// EventLimitHeld, for tests; it returns the previous value.
func SetLimitWatchEvery(d time.Duration) time.Duration {
	return time.Duration(limitWatchEvery.Swap(int64(d)))
}
