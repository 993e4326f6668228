package taskflow_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// exampleEnv runs a worker on a fresh memstore until stop is called.
func exampleEnv(reg *taskflow.Registry) (client *taskflow.Client, stop func()) {
	store := memstore.New()
	client, _ = taskflow.NewClient(store, taskflow.ClientOptions{})
	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = worker.Run(ctx); close(done) }()
	return client, func() { cancel(); <-done }
}

func ExampleThen() {
	reg := taskflow.NewRegistry()
	words, _ := taskflow.RegisterTask(reg, "words", func(_ context.Context, text string) ([]string, error) {
		return strings.Fields(text), nil
	})
	count, _ := taskflow.RegisterTask(reg, "count", func(_ context.Context, ws []string) (int, error) {
		return len(ws), nil
	})
	client, stop := exampleEnv(reg)
	defer stop()
	ctx := context.Background()

	h, _ := words.On(client).Enqueue(ctx, "to be or not to be")
	n, _ := taskflow.Then(ctx, h, count) // count's Args ([]string) is words' Result
	fmt.Println(n.Wait(ctx))
	// Output:
	// 6 <nil>
}

func ExampleBound_EnqueueBatch() {
	reg := taskflow.NewRegistry()
	square, _ := taskflow.RegisterTask(reg, "square", func(_ context.Context, n int) (int, error) { return n * n, nil })
	report, _ := taskflow.RegisterTask(reg, "report", func(_ context.Context, msg string) (string, error) { return msg, nil })
	client, stop := exampleEnv(reg)
	defer stop()
	ctx := context.Background()

	batch, _ := square.On(client).EnqueueBatch(ctx, []int{1, 2, 3})
	after, _ := report.On(client).ContinueWith(ctx, batch.ID, "all squared") // runs once the batch has finished
	fmt.Println(after.Wait(ctx))
	fmt.Println(batch.Wait(ctx))
	p, _ := batch.Progress(ctx)
	fmt.Printf("%d of %d succeeded\n", p.Succeeded, p.Total)
	// Output:
	// all squared <nil>
	// [1 4 9] <nil>
	// 3 of 3 succeeded
}

func ExampleBound_AddRecurring() {
	reg := taskflow.NewRegistry()
	digest, _ := taskflow.RegisterTask(reg, "digest", func(_ context.Context, team string) (string, error) { return "sent to " + team, nil })
	client, _ := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	ctx := context.Background()

	err := digest.On(client).AddRecurring(ctx, "daily-digest", "0 9 * * MON-FRI", "platform", taskflow.TimeZone("Europe/Berlin"))
	fmt.Println(err)
	def, _ := client.RecurringJob(ctx, "daily-digest")
	fmt.Println(def.Spec, def.TimeZone, def.NextRun.In(mustLoad("Europe/Berlin")).Format("15:04"))

	err = digest.On(client).AddRecurring(ctx, "broken", "every morning", "platform")
	fmt.Println(err)
	// Output:
	// <nil>
	// 0 9 * * MON-FRI Europe/Berlin 09:00
	// taskflow: invalid option: recurring job "broken": cron expression "every morning": expected 5 to 6 fields, found 2: [every morning]
}

func ExampleUnique() {
	reg := taskflow.NewRegistry()
	rebuild, _ := taskflow.RegisterTask(reg, "rebuild-index", func(_ context.Context, _ struct{}) (int, error) { return 0, nil })
	client, _ := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	ctx := context.Background()

	first, _ := rebuild.On(client).Enqueue(ctx, struct{}{}, taskflow.Unique("rebuild-index"))
	second, _ := rebuild.On(client).Enqueue(ctx, struct{}{}, taskflow.Unique("rebuild-index"))
	fmt.Println(first.ID == second.ID)
	// Output:
	// true
}

// Mailer is a dependency a task needs, built in the worker's main.
type Mailer struct{ From string }

// Send is the task's function: a method value carries the mailer.
func (m *Mailer) Send(_ context.Context, a EmailArgs) (Receipt, error) {
	return Receipt{MessageID: m.From + "->" + a.To}, nil
}

// A producer declares a task by name and types, without its function; a
// worker binds the function, with its dependencies, at start-up.
func ExampleDeclare() {
	// Shared by both programs, say in package tasks:
	sendEmail := taskflow.Declare[EmailArgs, Receipt]("send-email", taskflow.Queue("default"))

	// The worker's main builds the dependencies and binds the function.
	mailer := &Mailer{From: "noreply@example.com"}
	reg := taskflow.NewRegistry()
	if err := sendEmail.Bind(reg, mailer.Send); err != nil {
		panic(err)
	}
	client, stop := exampleEnv(reg)
	defer stop()

	// The producer enqueues; it never links Mailer.
	h, _ := sendEmail.On(client).Enqueue(context.Background(), EmailArgs{To: "ada@example.com"})
	r, err := h.Wait(context.Background())
	fmt.Println(r.MessageID, err)
	// Output: noreply@example.com->ada@example.com <nil>
}

// Subscribe to what happens to jobs, in process: one hub for the client and
// the worker. A subscriber that falls behind loses events, never slows the
// worker.
func ExampleEvents() {
	reg := taskflow.NewRegistry()
	double, _ := taskflow.RegisterTask(reg, "double", func(_ context.Context, n int) (int, error) { return 2 * n, nil })
	hub := taskflow.NewEvents()
	sub := hub.Subscribe(64)
	defer sub.Close()

	store := memstore.New()
	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{Events: hub})
	ctx, stop := context.WithCancel(context.Background())
	h, _ := double.On(client).Enqueue(ctx, 21)
	ev := <-sub.C
	fmt.Println(ev.Kind, ev.Task, ev.Attempt)

	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Events: hub, Logger: quiet})
	done := make(chan struct{})
	go func() { _ = worker.Run(ctx); close(done) }()
	defer func() { stop(); <-done }()
	_, _ = h.Wait(ctx)
	for range 2 {
		ev := <-sub.C
		fmt.Println(ev.Kind, ev.Task, ev.Attempt, ev.Worker == worker.ID())
	}
	// Output:
	// enqueued double 0
	// started double 1 true
	// succeeded double 1 true
}
