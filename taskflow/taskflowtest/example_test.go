package taskflowtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowtest"
)

// exampleT stands in for the *testing.T a real test has.
type exampleT struct{}

func (exampleT) Helper()                           {}
func (exampleT) Errorf(format string, args ...any) { fmt.Printf(format+"\n", args...) }
func (exampleT) FailNow()                          { panic("test failed") }

type Order struct {
	ID    string
	Cents int
}

// Example enqueues an order and its continuation, then drains: both run,
// in order, inline, and Drain reports how each ended.
func Example() {
	var t exampleT // in a test: the *testing.T
	ctx := context.Background()
	reg := taskflow.NewRegistry() // programs usually use NewTask and the default registry
	charge, _ := taskflow.RegisterTask(reg, "charge", func(_ context.Context, o Order) (string, error) {
		return "receipt-" + o.ID, nil
	})
	email, _ := taskflow.RegisterTask(reg, "email-receipt", func(_ context.Context, receipt string) (bool, error) {
		return true, nil
	})

	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	parent, _ := charge.On(h.Client).Enqueue(ctx, Order{ID: "o-1", Cents: 1250})
	_, _ = taskflow.Then(ctx, parent, email) // runs on charge's result

	for _, r := range h.Drain(ctx) {
		fmt.Println(r.Task, r.State.Name(), r.Err)
	}
	receipt, _ := parent.Result(ctx)
	fmt.Println(receipt)
	// Output:
	// charge succeeded <nil>
	// email-receipt succeeded <nil>
	// receipt-o-1
}

// ExampleHarness_Drain shows a retry: Drain runs what is due now, so the
// retry the failure scheduled a minute later waits until Advance moves the
// clock past it; the next Drain runs it.
func ExampleHarness_Drain() {
	var t exampleT
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	errOutage := errors.New("payment provider unavailable")
	charge, _ := taskflow.RegisterTask(reg, "charge", func(ctx context.Context, o Order) (string, error) {
		if job, _ := taskflow.JobFromContext(ctx); job.Attempt == 1 {
			return "", errOutage
		}
		return "receipt-" + o.ID, nil
	}, taskflow.WithRetry(filters.Retry{MaxRetries: 3, Delay: func(int) time.Duration { return time.Minute }}))

	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	_, _ = charge.On(h.Client).Enqueue(ctx, Order{ID: "o-2", Cents: 990})

	for _, r := range h.Drain(ctx) {
		fmt.Println(r.Attempt, r.State.Name(), r.Err)
	}
	fmt.Println("due now:", len(h.Drain(ctx)))
	h.Advance(ctx, time.Minute)
	for _, r := range h.Drain(ctx) {
		fmt.Println(r.Attempt, r.State.Name(), r.Err)
	}
	// Output:
	// 1 scheduled payment provider unavailable
	// due now: 0
	// 2 succeeded <nil>
}

// ExampleHarness_RunFor lets an hour pass: a recurring job every quarter
// of an hour fires and runs at each occurrence, with no real waiting.
func ExampleHarness_RunFor() {
	var t exampleT
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	report, _ := taskflow.RegisterTask(reg, "report", func(context.Context, string) (int, error) { return 0, nil })

	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	_ = report.On(h.Client).AddRecurring(ctx, "quarter-hourly", "*/15 * * * *", "sales")

	for _, r := range h.RunFor(ctx, time.Hour) {
		fmt.Println(r.At.Format(time.TimeOnly), r.Task, r.State.Name())
	}
	// Output:
	// 00:15:00 report succeeded
	// 00:30:00 report succeeded
	// 00:45:00 report succeeded
	// 01:00:00 report succeeded
}

// ExampleRequireEnqueued checks that code under test enqueued a job of a
// task with the expected args; the check returns the matching jobs.
func ExampleRequireEnqueued() {
	var t exampleT
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	welcome, _ := taskflow.RegisterTask(reg, "welcome-email", func(context.Context, string) (bool, error) { return true, nil })
	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})

	// The code under test, here a sign-up handler.
	signUp := func(ctx context.Context, email string) error {
		_, err := welcome.On(h.Client).Enqueue(ctx, email, taskflow.Queue("mail"))
		return err
	}
	_ = signUp(ctx, "ada@example.com")

	jobs := taskflowtest.RequireEnqueued(ctx, t, h.Store, welcome, func(to string) bool {
		return strings.HasSuffix(to, "@example.com")
	})
	fmt.Println(len(jobs), jobs[0].Args, jobs[0].Queue, jobs[0].State)
	taskflowtest.RequireEnqueuedN(ctx, t, h.Store, welcome, 0, func(to string) bool { return to == "bob@example.com" })
	// Output:
	// 1 ada@example.com mail enqueued
}

// ExampleRequireEnqueuedN checks how many jobs with given args were
// enqueued.
func ExampleRequireEnqueuedN() {
	var t exampleT
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	invoice, _ := taskflow.RegisterTask(reg, "invoice", func(context.Context, int) (bool, error) { return true, nil })
	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	for _, customer := range []int{7, 8, 7} {
		_, _ = invoice.On(h.Client).Enqueue(ctx, customer)
	}

	jobs := taskflowtest.RequireEnqueuedN(ctx, t, h.Store, invoice, 2, func(customer int) bool { return customer == 7 })
	fmt.Println(len(jobs), jobs[0].Args, jobs[1].Args)
	// Output:
	// 2 7 7
}

// ExampleHarness_Advance: a job delayed by an hour is not due a minute
// early; once the clock reaches its time, Drain runs it.
func ExampleHarness_Advance() {
	var t exampleT
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	remind, _ := taskflow.RegisterTask(reg, "remind", func(context.Context, string) (bool, error) { return true, nil })
	h := taskflowtest.New(t, taskflowtest.Options{Registry: reg})
	_, _ = remind.On(h.Client).Enqueue(ctx, "ada", taskflow.Delay(time.Hour))

	h.Advance(ctx, 59*time.Minute)
	fmt.Println("after 59m:", len(h.Drain(ctx)))
	h.Advance(ctx, time.Minute)
	for _, r := range h.Drain(ctx) {
		fmt.Println(r.At.Format(time.TimeOnly), r.Task, string(r.Args), r.State.Name())
	}
	// Output:
	// after 59m: 0
	// 01:00:00 remind "ada" succeeded
}

// ExampleWork unit-tests one task: its function runs with a job context,
// here as a third attempt with a parameter, and Work returns its typed
// result with what it logged and reported.
func ExampleWork() {
	var t exampleT
	ctx := context.Background()
	reg := taskflow.NewRegistry()
	resize, _ := taskflow.RegisterTask(reg, "resize", func(ctx context.Context, width int) (string, error) {
		job, _ := taskflow.JobFromContext(ctx)
		var format string
		_, _ = job.Param("format", &format)
		taskflow.Logger(ctx).Info("resizing", "width", width, "attempt", job.Attempt)
		taskflow.SetProgress(ctx, 100, "done")
		return fmt.Sprintf("%dpx.%s", width, format), nil
	})

	w := taskflowtest.Work(ctx, t, resize, 640, taskflowtest.WorkOptions{
		Options: taskflowtest.Options{Registry: reg},
		Attempt: 3,
		Job:     []taskflow.JobOption{taskflow.Param("format", "webp")},
	})
	fmt.Println(w.Result, w.Err, w.Attempt, w.State.Name())
	fmt.Println(w.Logs[0].Message, string(w.Logs[0].Attrs))
	fmt.Println(w.Progress.Percent, w.Progress.Message)
	// Output:
	// 640px.webp <nil> 3 succeeded
	// resizing {"attempt":3,"width":640}
	// 100 done
}
