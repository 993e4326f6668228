package taskflow

import (
	"context"
	"fmt"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// StatsPoint counts the jobs that succeeded, failed (for good) and were
// deleted in the period starting At.
type StatsPoint struct {
	At        time.Time
	Succeeded int64
	Failed    int64
	Deleted   int64
}

// Stats returns the outcome counts per period of length step (a whole
// number of minutes: a minute, an hour, a day) from the period holding
// from until to, zero where nothing happened. The store keeps them apart
// from the jobs, per minute, for storage.StatsRetention (8 days), so they
// survive the jobs' retention. It needs a store that implements
// storage.Statistics.
func (c *Client) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]StatsPoint, error) {
	st, err := capability[storage.Statistics](c.store)
	if err != nil {
		return nil, fmt.Errorf("taskflow: statistics: %w", err)
	}
	if step < time.Minute || step%time.Minute != 0 {
		return nil, fmt.Errorf("%w: statistics step %v: want a whole number of minutes", ErrInvalidOption, step)
	}
	points, err := st.Stats(ctx, from, to, step)
	if err != nil {
		return nil, fmt.Errorf("taskflow: statistics: %w", err)
	}
	out := make([]StatsPoint, len(points))
	for i, p := range points {
		out[i] = StatsPoint(p)
	}
	return out, nil
}
