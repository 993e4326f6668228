package sqlitestore

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// TestCancelledCallsReportWhatTheyDid: fetches whose context ends at
// random, before, while or after the writer runs them, never lease a job
// that their caller is not told of: every Processing job was returned by
// a fetch that succeeded.
func TestCancelledCallsReportWhatTheyDid(t *testing.T) {
	s := newStore(t)
	jobs := make([]*storage.Job, 400)
	for i := range jobs {
		jobs[i] = enqueued()
	}
	_, err := s.Create(testCtx(t), &storage.CreateParams{Jobs: jobs})
	require.NoError(t, err)
	var (
		leased atomic.Int64
		wg     sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 40 {
				ctx, cancel := context.WithTimeout(context.Background(), rand.N(2*time.Millisecond))
				got, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"default"}, Limit: 1, Owner: "w", LeaseFor: time.Hour})
				cancel()
				if err == nil {
					leased.Add(int64(len(got)))
				}
			}
		})
	}
	wg.Wait()
	n, err := s.Count(testCtx(t), "")
	require.NoError(t, err)
	require.Equal(t, leased.Load(), n["processing"], "jobs leased by fetches that reported an error")
}
