package storage

import (
	"context"
	"time"
)

// StatsPoint counts the jobs that Transition moved to Succeeded, Failed and
// Deleted in one period starting At.
type StatsPoint struct {
	At        time.Time
	Succeeded int64
	Failed    int64
	Deleted   int64
}

// StatsRetention is how long stores that implement [Statistics] keep the
// counts of a minute.
const StatsRetention = 8 * 24 * time.Hour

// Statistics is implemented by stores that count outcomes durably, apart
// from the jobs, so the counts survive the jobs' retention (Hangfire's
// succeeded and failed counters). Transition counts the jobs it moves to
// Succeeded, Failed or Deleted per minute of its Now, in the same atomic
// step, in one write per call rather than per job; counts older than
// [StatsRetention] are removed by DeleteExpired ([Pruner]).
type Statistics interface {
	// Stats returns a point per period of length step (a whole number of
	// minutes; periods aligned on the Unix epoch, see [StatsPeriod]) from
	// the one holding from until to: the counts of the minutes in it.
	// Periods with no count are zero points.
	Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]StatsPoint, error)
}

// StatsPeriod returns the start of the period of length step that holds
// t: periods are aligned on the Unix epoch, as PostgreSQL's date_bin with
// origin 'epoch' aligns them. The result is in UTC.
func StatsPeriod(t time.Time, step time.Duration) time.Time {
	d := t.Sub(time.Unix(0, 0))
	n := d / step
	if d < 0 && d%step != 0 {
		n--
	}
	return time.Unix(0, 0).Add(n * step).UTC()
}

// FillStats returns the points for the periods of length step from the
// one holding from (see [StatsPeriod]) until to, taking the counts of
// counted (keyed by period start, in UTC) and zeros elsewhere. Stores use it
// to shape their answer to [Statistics.Stats].
func FillStats(from, to time.Time, step time.Duration, counted map[time.Time]StatsPoint) []StatsPoint {
	var out []StatsPoint
	for at := StatsPeriod(from, step); at.Before(to); at = at.Add(step) {
		p := counted[at]
		p.At = at
		out = append(out, p)
	}
	return out
}
