package redisstore

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// TestListsOfAStoreWrittenBeforeTheirIndexes: a store written before the
// indexes of lists by queue and by parent lists every job on its first
// list of every state or of a parent, which files them, and says so.
func TestListsOfAStoreWrittenBeforeTheirIndexes(t *testing.T) {
	client := testClient(t)
	ctx := testCtx(t)
	for _, shards := range []int{1, 3} {
		s := newShardedOrPlain(t, client, shards)
		parent := enqueuedJob(t)
		jobs := []*storage.Job{parent}
		for i := range 1200 { // more than a page
			jobs = append(jobs, enqueuedJob(t, func(j *storage.Job) {
				j.Queue = []string{"default", "mail", "reports"}[i%3]
				if i%4 == 0 {
					j.State, j.ParentID = states.NameAwaiting, parent.ID
					j.StateData = []byte(`{"parent_id":"` + parent.ID.String() + `","on":"success"}`)
				}
			}))
		}
		_, err := s.Create(ctx, &storage.CreateParams{Jobs: jobs})
		require.NoError(t, err)
		leased, err := s.Fetch(ctx, &storage.FetchParams{Queues: []string{"reports"}, Limit: 10, Owner: "o", LeaseFor: time.Minute})
		require.NoError(t, err)
		require.Len(t, leased, 10)
		var ts []storage.Transition
		for _, j := range jobs[1:100] {
			if j.State == states.NameEnqueued && j.Queue == "mail" {
				ts = append(ts, storage.Transition{ID: j.ID, To: states.NameFailed, Data: []byte(`{"error_message":"boom"}`)})
			}
		}
		_, err = s.Transition(ctx, &storage.TransitionParams{Transitions: ts})
		require.NoError(t, err)

		want := map[string][]string{}
		for _, p := range []storage.ListParams{{}, {Queue: "reports"}, {ParentID: parent.ID}, {ParentID: parent.ID, Queue: "mail"}} {
			got, err := s.List(ctx, &p)
			require.NoError(t, err)
			want[listName(p)] = jobIDs(got)
		}
		require.Len(t, want["every state"], len(jobs))
		require.Len(t, want["continuations"], 300)

		// The layout before: no indexes of lists, and no mark, on any shard.
		for _, key := range []string{"s:active:*", "c:*", "ix"} {
			require.NoError(t, deleteKeys(ctx, client, "{"+s.name+"*}:"+key))
		}
		for _, p := range []storage.ListParams{{ParentID: parent.ID}, {}, {Queue: "reports"}, {ParentID: parent.ID, Queue: "mail"}} {
			got, err := s.List(ctx, &p)
			require.NoError(t, err)
			require.Equal(t, want[listName(p)], jobIDs(got), "%d shards: %s", shards, listName(p))
		}
		marks, err := client.Keys(ctx, "{"+s.name+"*}:ix").Result()
		require.NoError(t, err)
		require.Len(t, marks, shards, "every shard is marked as indexed")
	}
}

// listName names a list of the test above.
func listName(p storage.ListParams) string {
	var parts []string
	if p.ParentID != uuid.Nil {
		parts = append(parts, "continuations")
	} else {
		parts = append(parts, "every state")
	}
	if p.Queue != "" {
		parts = append(parts, "of "+p.Queue)
	}
	return strings.Join(parts, " ")
}

func jobIDs(jobs []*storage.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID.String()
	}
	return out
}
