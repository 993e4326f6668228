package dashboard_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// heartbeat registers w with store as a live worker.
func heartbeat(t *testing.T, store storage.Store, w storage.WorkerInfo) {
	t.Helper()
	w.StartedAt, w.HeartbeatAt = time.Now(), time.Now()
	_, err := store.ExtendLeases(context.Background(), &storage.ExtendParams{Owner: w.ID, Worker: &w})
	require.NoError(t, err)
}

// TestUnserved checks the markers of work no live worker can do: the
// overview's warning, the queues page's badge and the job page's note,
// each shown when no live worker can run a waiting job, and only then.
func TestUnserved(t *testing.T) {
	// A job of Echo waits in the queue "mail", unless the case finishes it.
	type checks struct {
		overview, queues, job []string // what the page shows
		notOverview, notJob   []string // and what it must not
	}
	noBanner := []string{`id="unserved"`}
	noJobNote := []string{`id="no-worker"`}
	tests := []struct {
		name     string
		workers  []storage.WorkerInfo
		finished bool
		want     checks
	}{
		{"a worker serves the queue and runs the task",
			[]storage.WorkerInfo{{ID: "w1", Queues: []string{"default", "mail"}, Tasks: []string{"dash-echo"}}}, false,
			checks{queues: []string{`mail</a></td>`}, notOverview: noBanner, notJob: noJobNote}},
		{"a worker of an older release runs any task",
			[]storage.WorkerInfo{{ID: "w1", Queues: []string{"mail"}}}, false,
			checks{queues: []string{`mail</a></td>`}, notOverview: noBanner, notJob: noJobNote}},
		{"no worker serves the queue",
			[]storage.WorkerInfo{{ID: "w1", Queues: []string{"default"}, Tasks: []string{"dash-echo"}}}, false,
			checks{overview: []string{`id="unserved"`, `(1 live worker(s)`, `href="/dash/jobs/enqueued?queue=mail" class="unserved-queue"><bdi>mail</bdi></a> (1 waiting)`,
				`mail</a> <span class="badge warn"`},
				queues: []string{`mail</a> <span class="badge warn"`},
				job:    []string{`id="no-worker"`, `No live worker serves the queue &#34;mail&#34;`}}},
		{"no worker runs the task",
			[]storage.WorkerInfo{{ID: "w1", Queues: []string{"mail"}, Tasks: []string{"dash-other"}}}, false,
			checks{overview: []string{`id="unserved"`, `<bdi>dash-echo</bdi> (1: <a href="/dash/jobs/enqueued?task=dash-echo" class="unserved-task">`},
				queues: []string{`mail</a></td>`}, job: []string{`No live worker runs the task &#34;dash-echo&#34;`}}},
		{"the queue and the task are served apart",
			[]storage.WorkerInfo{{ID: "w1", Queues: []string{"mail"}, Tasks: []string{"dash-other"}}, {ID: "w2", Queues: []string{"default"}, Tasks: []string{"dash-echo"}}}, false,
			checks{queues: []string{`mail</a></td>`}, notOverview: noBanner,
				job: []string{`No live worker both serves the queue &#34;mail&#34; and runs the task &#34;dash-echo&#34;`}}},
		{"no worker is alive", nil, false,
			checks{overview: []string{`id="unserved"`, `(0 live worker(s)`, `class="unserved-queue"`, `class="unserved-task"`},
				queues: []string{`mail</a> <span class="badge warn"`}, job: []string{`No worker is alive`}}},
		{"a finished job needs no worker", nil, true,
			checks{queues: []string{`No queue has jobs waiting`}, notOverview: noBanner, notJob: noJobNote}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := memstore.New()
			c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
			require.NoError(t, err)
			h, err := Echo.On(c).Enqueue(ctx, Note{Text: "hi"}, taskflow.Queue("mail"))
			require.NoError(t, err)
			if tt.finished {
				require.NoError(t, c.ChangeState(ctx, h.ID, states.Succeeded{SucceededAt: time.Now()}))
			}
			for _, w := range tt.workers {
				heartbeat(t, store, w)
			}
			base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
			for _, p := range []struct {
				path      string
				want, not []string
			}{{"/", tt.want.overview, tt.want.notOverview}, {"/queues", tt.want.queues, nil}, {"/job/" + h.ID.String(), tt.want.job, tt.want.notJob}} {
				resp, body := get(t, hc, base+p.path)
				require.Equal(t, 200, resp.StatusCode, body)
				for _, w := range p.want {
					require.Contains(t, body, w, p.path)
				}
				for _, w := range p.not {
					require.NotContains(t, body, w, p.path)
				}
			}
		})
	}
}

// TestUnservedBounded checks that the overview names at most 20 unserved
// tasks, the ones with most jobs, and counts the others.
func TestUnservedBounded(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	reg := taskflow.NewRegistry()
	for i := range 25 {
		task, err := taskflow.RegisterTask(reg, "typo-"+string(rune('a'+i)), func(_ context.Context, n Note) (string, error) { return n.Text, nil })
		require.NoError(t, err)
		for range i%3 + 1 {
			_, err := task.On(c).Enqueue(ctx, Note{})
			require.NoError(t, err)
		}
	}
	base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
	_, body := get(t, hc, base+"/")
	require.Len(t, regexp.MustCompile(`class="unserved-task"`).FindAllString(body, -1), 20)
	require.Contains(t, body, "and 5 more")
	require.Contains(t, body, "<bdi>typo-c</bdi> (3:", "the tasks with most jobs are named")
	require.NotContains(t, body, "<bdi>typo-y</bdi>", "the last of the tasks with 1 job is left out")
}

// TestWorkerTasks checks that the workers page lists each worker's tasks.
func TestWorkerTasks(t *testing.T) {
	store := memstore.New()
	c, err := taskflow.NewClient(store, taskflow.ClientOptions{})
	require.NoError(t, err)
	tests := []struct {
		worker storage.WorkerInfo
		want   string
	}{
		{storage.WorkerInfo{ID: "w-tasks", Queues: []string{"default"}, Tasks: []string{"mail.send", "report.build"}},
			`<td class="tasks"><bdi>mail.send</bdi>, <bdi>report.build</bdi></td>`},
		{storage.WorkerInfo{ID: "w-none", Queues: []string{"default"}, Tasks: []string{}}, `<td class="tasks">none</td>`},
		{storage.WorkerInfo{ID: "w-old", Queues: []string{"default"}}, `<td class="tasks"><span class="note">any (not advertised)</span></td>`},
	}
	for _, tt := range tests {
		heartbeat(t, store, tt.worker)
	}
	base, hc := mount(t, newHandler(t, c, dashboard.Options{}))
	_, body := get(t, hc, base+"/workers")
	for _, tt := range tests {
		t.Run(tt.worker.ID, func(t *testing.T) {
			row := regexp.MustCompile(`(?s)<tr><td class="mono"><bdi>` + tt.worker.ID + `</bdi>.*?</tr>`).FindString(body)
			require.Contains(t, row, tt.want)
		})
	}
}
