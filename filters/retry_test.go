package filters_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

var (
	errTransient = errors.New("transient")
	errBadInput  = errors.New("bad input")
)

func TestRetryElection(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	fixed := func(n int) time.Duration { return time.Duration(n) * time.Minute }
	tests := []struct {
		name    string
		retry   filters.Retry
		attempt int
		err     error
		want    states.Name
		runAt   time.Duration // for Scheduled
		reason  string
	}{
		{"FirstFailureIsScheduled", filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: fixed}, 1, errTransient, states.NameScheduled, time.Minute, "Retry attempt 1 of 10: transient"},
		{"TenthFailureIsLastRetry", filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: fixed}, 10, errTransient, states.NameScheduled, 10 * time.Minute, "Retry attempt 10 of 10: transient"},
		{"EleventhFailureStaysFailed", filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: fixed}, 11, errTransient, states.NameFailed, 0, ""},
		{"CustomAttempts", filters.Retry{MaxRetries: 2, Delay: fixed}, 3, errTransient, states.NameFailed, 0, ""},
		{"ZeroDelayEnqueuesAtOnce", filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: func(int) time.Duration { return 0 }}, 1, errTransient, states.NameEnqueued, 0, "Retry attempt 1 of 10: transient"},
		{"NoRetry", filters.NoRetry, 1, errTransient, states.NameFailed, 0, ""},
		{"PermanentIsNotRetried", filters.DefaultRetry, 1, filters.Permanent(errTransient), states.NameFailed, 0, ""},
		{"WrappedErrPermanentIsNotRetried", filters.DefaultRetry, 1, fmt.Errorf("x: %w", filters.ErrPermanent), states.NameFailed, 0, ""},
		{"ExceptOnMatches", filters.Retry{MaxRetries: filters.DefaultMaxRetries, ExceptOn: []error{errBadInput}}, 1, fmt.Errorf("wrap: %w", errBadInput), states.NameFailed, 0, ""},
		{"ExceptOnOther", filters.Retry{MaxRetries: filters.DefaultMaxRetries, ExceptOn: []error{errBadInput}, Delay: fixed}, 1, errTransient, states.NameScheduled, time.Minute, "Retry attempt 1 of 10: transient"},
		{"OnlyOnMatches", filters.Retry{MaxRetries: filters.DefaultMaxRetries, OnlyOn: []error{errTransient}, Delay: fixed}, 2, fmt.Errorf("wrap: %w", errTransient), states.NameScheduled, 2 * time.Minute, "Retry attempt 2 of 10: wrap: transient"},
		{"OnlyOnOther", filters.Retry{MaxRetries: filters.DefaultMaxRetries, OnlyOn: []error{errTransient}}, 1, errBadInput, states.NameFailed, 0, ""},
		{"ExhaustedDeletes", filters.Retry{MaxRetries: 1, WhenExhausted: filters.DeleteWhenExhausted}, 2, errTransient, states.NameDeleted, 0, "Retry attempts exceeded (1)"},
		{"NotRetryableDeletes", filters.Retry{MaxRetries: filters.DefaultMaxRetries, WhenExhausted: filters.DeleteWhenExhausted}, 1, filters.Permanent(errBadInput), states.NameDeleted, 0, "Error is not retryable"},
		{"BadInputStaysFailedWhenExhaustedDeletes", filters.Retry{MaxRetries: filters.DefaultMaxRetries, WhenExhausted: filters.DeleteWhenExhausted}, 1, fmt.Errorf("decode args: %w", filters.ErrBadInput), states.NameFailed, 0, ""},
		{"BadInputIsNotRetried", filters.Retry{MaxRetries: filters.DefaultMaxRetries, Delay: fixed}, 1, fmt.Errorf("decode args: %w", filters.ErrBadInput), states.NameFailed, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			job := &storage.Job{Queue: "mail", Attempt: tt.attempt}
			failed := states.Failed{FailedAt: now, ErrorMessage: tt.err.Error()}
			ec := filters.NewElectStateContext(filters.NewJob(job), states.NameProcessing, failed, tt.err, now)
			tt.retry.OnStateElection(context.Background(), ec)
			got := ec.Candidate()
			require.Equal(t, tt.want, got.Name())
			if tt.want == states.NameFailed {
				require.Empty(t, ec.Traversed())
				return
			}
			require.Equal(t, []states.State{failed}, ec.Traversed(), "the failure stays in history")
			require.Equal(t, tt.reason, got.Why())
			switch s := got.(type) {
			case states.Scheduled:
				require.Equal(t, now.Add(tt.runAt), s.EnqueueAt)
			case states.Enqueued:
				require.Equal(t, "mail", s.Queue)
			}
		})
	}
}

func TestRetryIgnoresOtherCandidates(t *testing.T) {
	t.Parallel()
	ec := filters.NewElectStateContext(filters.NewJob(&storage.Job{Attempt: 1}), states.NameProcessing, states.Succeeded{}, nil, time.Now())
	filters.DefaultRetry.OnStateElection(context.Background(), ec)
	require.Equal(t, states.NameSucceeded, ec.Candidate().Name())
	require.Empty(t, ec.Traversed())
}

func TestHangfireDelayBounds(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 10; n++ {
		lo := time.Duration((n-1)*(n-1)*(n-1)*(n-1)+15) * time.Second
		hi := lo + time.Duration(29*n)*time.Second
		for range 50 {
			d := filters.HangfireDelay(n)
			require.GreaterOrEqual(t, d, lo, "retry %d", n)
			require.LessOrEqual(t, d, hi, "retry %d", n)
		}
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	require.NoError(t, filters.Permanent(nil))
	err := filters.Permanent(errBadInput)
	require.ErrorIs(t, err, errBadInput)
	require.ErrorIs(t, err, filters.ErrPermanent)
	require.Equal(t, "bad input", err.Error())
}

func TestValid(t *testing.T) {
	t.Parallel()
	require.True(t, filters.Valid(filters.Retry{}))
	require.False(t, filters.Valid(struct{ filters.Defaults }{}), "a filter must implement a hook")
}
