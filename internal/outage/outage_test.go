package outage

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWatch(t *testing.T) {
	tests := []struct {
		name string
		act  func(w *Watch) // before Sleep(time.Minute)
		wake func(w *Watch) // while it sleeps
		woke bool           // Sleep returns before its minute
	}{
		{"NoFailurePending", func(w *Watch) {}, func(w *Watch) {}, true},
		{"SuccessAfterTheFailure", func(w *Watch) { w.Failed() }, func(w *Watch) { w.Succeeded() }, true},
		{"FailuresOnly", func(w *Watch) { w.Failed() }, func(w *Watch) { w.Failed() }, false},
		{"SuccessBeforeTheWait", func(w *Watch) { w.Failed(); w.Succeeded() }, func(w *Watch) {}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Watch
			tt.act(&w)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			var wg sync.WaitGroup
			woke := make(chan bool, 3)
			for range 3 { // every waiter wakes
				wg.Go(func() {
					start := time.Now()
					live := w.Sleep(ctx, time.Minute)
					woke <- live && time.Since(start) < 250*time.Millisecond
				})
			}
			time.Sleep(20 * time.Millisecond)
			tt.wake(&w)
			wg.Wait()
			close(woke)
			for got := range woke {
				require.Equal(t, tt.woke, got)
			}
		})
	}
}
