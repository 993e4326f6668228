package dashboard_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// noFlowControl is a store that implements none of the optional
// interfaces, storage.FlowControl among them.
type noFlowControl struct{ storage.Store }

// TestLimitsPage checks the limits page: each declared limit with its use
// and the jobs held by it, a PartitionLimit per partition, and a plain
// note on a store without flow control.
func TestLimitsPage(t *testing.T) {
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	tenant, err := taskflow.RegisterTask(reg, "dash-tenant", func(_ context.Context, n Note) (string, error) { return n.Text, nil },
		taskflow.PartitionBy(func(n Note) string { return n.Text }))
	require.NoError(t, err)
	// row returns the row of the limits table whose name cell names name.
	row := func(body, class, name string) string {
		return regexp.MustCompile(`(?s)<tr class="` + class + `">.{0,200}?<bdi[^>]*>` + regexp.QuoteMeta(name) + `</bdi>.*?</tr>`).FindString(body)
	}
	tests := []struct {
		name   string
		limits []storage.Limit
		// jobs enqueues jobs; then a worker leases as many as the limits let it.
		jobs  func(t *testing.T, c *taskflow.Client)
		check func(t *testing.T, limits string)
		// queue holds the held jobs, which the overview, the queues page
		// and the live counts tell apart from the ready ones.
		queue       string
		held, ready int64
	}{
		{"no limit declared", nil, func(*testing.T, *taskflow.Client) {}, func(t *testing.T, limits string) {
			require.Contains(t, limits, "No limit declared.")
		}, "", 0, 0},
		{"a full queue limit holds the rest", []storage.Limit{{Scope: storage.ScopeQueue, Name: "mail", Concurrency: 2}},
			func(t *testing.T, c *taskflow.Client) {
				for range 5 {
					_, err := Echo.On(c).Enqueue(ctx, Note{Text: "m"}, taskflow.Queue("mail"))
					require.NoError(t, err)
				}
				_, err := Echo.On(c).Enqueue(ctx, Note{Text: "b"}, taskflow.Queue("bulk")) // ready: no worker fetched it
				require.NoError(t, err)
			},
			func(t *testing.T, limits string) {
				r := row(limits, "limit", "mail")
				require.Contains(t, r, "<td>queue</td>")
				require.Contains(t, r, "2 at once")
				require.Contains(t, r, `<meter min="0" max="2" value="2"></meter> 2 of 2`, "the slots in use")
				require.Contains(t, r, `<td class="num">3</td><td class="num held">3</td>`, "3 enqueued, all held by the full limit")
			}, "mail", 3, 1},
		{"a rate limit with room holds none", []storage.Limit{{Scope: storage.ScopeTask, Name: "dash-echo", Rate: 10, Period: time.Minute, Burst: 20}},
			func(t *testing.T, c *taskflow.Client) {
				_, err := Echo.On(c).Enqueue(ctx, Note{Text: "r"})
				require.NoError(t, err)
			},
			func(t *testing.T, limits string) {
				r := row(limits, "limit", "dash-echo")
				require.Contains(t, r, "10 per 1m0s (+20 burst)")
				require.Contains(t, r, `href="/dash/jobs/enqueued?task=dash-echo"`)
				require.Contains(t, r, `<td class="num">0</td><td class="num held">0</td>`)
			}, "", 0, 0},
		{"a spent rate holds the rest until its next start", []storage.Limit{{Scope: storage.ScopeQueue, Name: "mail", Rate: 1, Period: time.Hour}},
			func(t *testing.T, c *taskflow.Client) {
				for range 2 {
					_, err := Echo.On(c).Enqueue(ctx, Note{Text: "m"}, taskflow.Queue("mail"))
					require.NoError(t, err)
				}
			},
			func(t *testing.T, limits string) {
				r := row(limits, "limit", "mail")
				require.Contains(t, r, "1 per 1h0m0s")
				require.Contains(t, r, `<td class="num">1</td>`+"\n"+`<td class="num">1</td><td class="num held">1</td>`, "1 started, 1 held")
				require.Regexp(t, `data-relative>in (59m|1h)`, r, "the next start, in about an hour")
			}, "mail", 1, 0},
		{"a partition limit, per partition", []storage.Limit{{Scope: storage.ScopePartition, Name: "dash-tenant", Concurrency: 1}},
			func(t *testing.T, c *taskflow.Client) {
				for _, acct := range []string{"acme", "acme", "acme", "globex"} {
					_, err := tenant.On(c).Enqueue(ctx, Note{Text: acct})
					require.NoError(t, err)
				}
			},
			func(t *testing.T, limits string) {
				r := row(limits, "limit", "dash-tenant")
				require.Contains(t, r, "1 at once, per partition")
				require.Contains(t, r, `<td class="num">2</td>`+"\n"+`<td class="num">2</td><td class="num held">2</td>`, "2 running, 2 enqueued and held, over the partitions")
				require.Contains(t, row(limits, "partition", "acme"), `<td class="num">1 of 1</td>`+"\n"+`<td class="num">2</td><td class="num held">2</td>`)
				require.Contains(t, row(limits, "partition", "globex"), `<td class="num">1 of 1</td>`+"\n"+`<td class="num">0</td><td class="num held">0</td>`)
				require.Less(t, regexp.MustCompile(`acme`).FindStringIndex(limits)[0], regexp.MustCompile(`globex`).FindStringIndex(limits)[0], "the busiest partition first")
			}, "default", 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			require.NoError(t, store.SetLimits(ctx, tt.limits))
			c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
			require.NoError(t, err)
			tt.jobs(t, c)
			_, err = store.Fetch(ctx, &storage.FetchParams{Queues: []string{"default", "mail"}, Limit: 10, Owner: "w1", LeaseFor: time.Hour})
			require.NoError(t, err)
			base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
			resp, limits := get(t, hc, base+"/limits")
			require.Equal(t, 200, resp.StatusCode, limits)
			require.Contains(t, limits, `href="/dash/limits" class="current">Limits</a>`, "in the navigation")
			tt.check(t, limits)

			_, overview := get(t, hc, base+"/")
			require.Contains(t, overview, fmt.Sprintf(`data-split="held">%d</span> held by a limit · <span class="split-count" data-split="ready">%d</span> ready`,
				tt.held, tt.ready), "the overview splits the enqueued jobs")
			_, live := get(t, hc, base+"/api/live")
			require.Contains(t, live, fmt.Sprintf(`"held":%d,"ready":%d`, tt.held, tt.ready), "so do the live counts")
			if tt.queue != "" {
				_, queues := get(t, hc, base+"/queues")
				r := regexp.MustCompile(`(?s)<tr><td><a href="/dash/jobs/enqueued\?queue=` + tt.queue + `">.*?</tr>`).FindString(queues)
				require.Contains(t, r, fmt.Sprintf(`<td class="num held"><a href="/dash/limits">%d</a></td>`, tt.held), "the queues page, per queue")
				r = regexp.MustCompile(`(?s)<tr><td><a href="/dash/jobs/enqueued\?queue=` + tt.queue + `">.*?</tr>`).FindString(overview)
				require.Contains(t, r, fmt.Sprintf(`<td class="num held">%d</td>`, tt.held), "the overview's queues")
			}
		})
	}

	t.Run("a store without flow control", func(t *testing.T) {
		c, err := taskflow.NewClient(noFlowControl{memstore.New()}, taskflow.ClientOptions{})
		require.NoError(t, err)
		base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
		resp, body := get(t, hc, base+"/limits")
		require.Equal(t, 200, resp.StatusCode, body)
		require.Contains(t, body, `id="no-flow-control">This store has no flow control`)
		require.NotContains(t, body, "implements no", "a note, not an error")
	})
}
