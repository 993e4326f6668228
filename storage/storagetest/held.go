package storagetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/storage"
)

// testHeld checks storage.HeldCounter, which every store with
// storage.FlowControl implements.
func testHeld(t *testing.T, newStore NewStore) {
	t.Run("FlowControlStoreCountsHeld", func(t *testing.T) {
		_, ok := newStore(t).(storage.HeldCounter)
		require.True(t, ok, "a store with storage.FlowControl implements no storage.HeldCounter")
	})
	free := ofTask("free")
	cases := []struct {
		name   string
		limits []storage.Limit
		// first is created and one of it leased, at time.Now(); then rest
		// is created, and finish, if set, finishes the job leased.
		first, rest [][]jobOpt
		finish      bool
		want        map[string]int64
	}{
		{name: "NoLimitFull", limits: []storage.Limit{queueLimit(5)},
			first: repeat(3), rest: repeat(2, inQueue("other")), want: map[string]int64{}},
		{name: "QueueConcurrencyHoldsTheQueue", limits: []storage.Limit{queueLimit(1)},
			first: repeat(4), rest: repeat(2, inQueue("other")), want: map[string]int64{"default": 3}},
		{name: "PartitionConcurrencyHoldsItsPartition", limits: []storage.Limit{partitionLimit("test-task", 1)},
			first: repeat(3, inPartition("a")), rest: append(repeat(2, inPartition("b")), repeat(2, free)...),
			want: map[string]int64{"default": 2}},
		{name: "JobHeldByTwoLimitsCountsOnce", limits: []storage.Limit{partitionLimit("test-task", 1),
			{Scope: storage.ScopeTask, Name: "test-task", Concurrency: 1}},
			first: repeat(3, inPartition("a")), rest: append(repeat(2, inPartition("b")), append(repeat(2, free), repeat(1, inQueue("other"))...)...),
			want: map[string]int64{"default": 4, "other": 1}},
		{name: "SpentRateHoldsAfterTheJobEnds", limits: []storage.Limit{{Scope: storage.ScopeTask, Name: "test-task", Rate: 1, Period: time.Hour}},
			first: repeat(3), rest: repeat(2, free), finish: true, want: map[string]int64{"default": 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			hc := s.(storage.HeldCounter)
			got, err := hc.CountHeld(ctx(t))
			require.NoError(t, err)
			require.Empty(t, got, "held with no limit stored")
			setLimits(t, s, c.limits...)
			create(t, s, jobsWith(t, c.first)...)
			leased := fetchAt(t, s, time.Now(), 1)
			require.Len(t, leased, 1)
			create(t, s, jobsWith(t, c.rest)...)
			if c.finish {
				succeedAll(t, s, leased...)
			}
			got, err = hc.CountHeld(ctx(t))
			require.NoError(t, err)
			require.Equal(t, c.want, nonZero(got))
		})
	}
}

// repeat returns the options of n jobs, each with opts.
func repeat(n int, opts ...jobOpt) [][]jobOpt {
	out := make([][]jobOpt, n)
	for i := range out {
		out[i] = opts
	}
	return out
}

func jobsWith(t *testing.T, opts [][]jobOpt) []*storage.Job {
	out := make([]*storage.Job, len(opts))
	for i, o := range opts {
		out[i] = newJob(t, o...)
	}
	return out
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}
