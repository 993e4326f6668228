package taskflow_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

type EmailArgs struct{ To, Subject string }

type Receipt struct{ MessageID string }

func Example() {
	// Declare a typed task once, usually as a package-level variable.
	// RegisterTask with an explicit registry keeps this example isolated;
	// programs use taskflow.NewTask, which registers in the default one.
	reg := taskflow.NewRegistry()
	sendEmail, err := taskflow.RegisterTask(reg, "send-email", func(ctx context.Context, a EmailArgs) (Receipt, error) {
		return Receipt{MessageID: "msg-for-" + a.To}, nil
	})
	if err != nil {
		panic(err)
	}

	store := memstore.New()
	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Queues: []string{"mail"}})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- worker.Run(ctx) }()

	h, err := sendEmail.On(client).Enqueue(ctx, EmailArgs{To: "ada@example.com", Subject: "hi"}, taskflow.Queue("mail"))
	if err != nil {
		panic(err)
	}
	receipt, err := h.Wait(ctx) // the typed Result
	fmt.Println(receipt.MessageID, err)

	stop()
	fmt.Println("worker stopped:", <-done)
	// Output:
	// msg-for-ada@example.com <nil>
	// worker stopped: <nil>
}

func ExampleHandle_Wait_failure() {
	reg := taskflow.NewRegistry()
	charge, _ := taskflow.RegisterTask(reg, "charge", func(ctx context.Context, cents int) (string, error) {
		if cents <= 0 {
			// A permanent error is never retried.
			return "", filters.Permanent(fmt.Errorf("amount %d is not positive", cents))
		}
		return "ok", nil
	})
	store := memstore.New()
	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go worker.Run(ctx)

	h, _ := charge.On(client).Enqueue(ctx, -5)
	_, err := h.Wait(ctx)
	fmt.Println(errors.Is(err, taskflow.ErrJobFailed))
	var jobErr *taskflow.JobError
	if errors.As(err, &jobErr) {
		fmt.Println(jobErr.State.(states.Failed).ErrorMessage)
	}

	job, _ := client.Job(ctx, h.ID)
	for _, change := range job.History {
		fmt.Println(change.State.Name())
	}
	// Output:
	// true
	// amount -5 is not positive
	// enqueued
	// processing
	// failed
}

func ExampleWithRetry() {
	reg := taskflow.NewRegistry()
	attempts := 0
	flaky, _ := taskflow.RegisterTask(reg, "flaky", func(ctx context.Context, _ struct{}) (int, error) {
		attempts++
		if attempts < 3 {
			return 0, errors.New("upstream unavailable")
		}
		return attempts, nil
	}, taskflow.WithRetry(filters.Retry{
		MaxRetries: 5,
		Delay:      func(n int) time.Duration { return time.Duration(n) * 10 * time.Millisecond },
	}))
	store := memstore.New()
	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Concurrency: 1})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go worker.Run(ctx)

	h, _ := flaky.On(client).Enqueue(ctx, struct{}{})
	n, err := h.Wait(ctx)
	fmt.Println(n, err)
	job, _ := h.Job(ctx)
	for _, change := range job.History {
		if change.State.Name() == states.NameScheduled {
			fmt.Println(change.State.Why())
		}
	}
	// Output:
	// 3 <nil>
	// Retry attempt 1 of 5: upstream unavailable
	// Retry attempt 2 of 5: upstream unavailable
}

func ExampleDelay() {
	reg := taskflow.NewRegistry()
	remind, _ := taskflow.RegisterTask(reg, "remind", func(ctx context.Context, who string) (string, error) {
		return "reminded " + who, nil
	})
	client, _ := taskflow.NewClient(memstore.New(), taskflow.ClientOptions{})
	h, _ := remind.On(client).Enqueue(context.Background(), "ada", taskflow.Delay(time.Hour))
	job, _ := h.Job(context.Background())
	fmt.Println(job.State.Name())
	// Output:
	// scheduled
}

func ExampleSnooze() {
	reg := taskflow.NewRegistry()
	calls := 0
	syncAccount, _ := taskflow.RegisterTask(reg, "sync-account", func(ctx context.Context, account string) (string, error) {
		job, _ := taskflow.JobFromContext(ctx)
		calls++
		fmt.Printf("call %d, attempt %d\n", calls, job.Attempt)
		if calls < 3 {
			// The upstream asks us to come back later: not a failure.
			return "", fmt.Errorf("upstream rate limit: %w", taskflow.Snooze(10*time.Millisecond))
		}
		return "synced " + account, nil
	}, taskflow.MaxRetries(0)) // a snooze spends no retry
	store := memstore.New()
	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg, Logger: slog.New(slog.DiscardHandler)})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go worker.Run(ctx)

	h, _ := syncAccount.On(client).Enqueue(ctx, "acme")
	fmt.Println(h.Wait(ctx))
	info, _ := client.Job(ctx, h.ID)
	fmt.Println(info.History[2].State.Name(), info.History[2].State.Why())
	// Output:
	// call 1, attempt 1
	// call 2, attempt 1
	// call 3, attempt 1
	// synced acme <nil>
	// scheduled upstream rate limit: snoozed for 10ms
}

// ErrOutOfStock is a sentinel a task fails with, registered so that the
// producer's error matches it too.
var ErrOutOfStock = taskflow.RegisterError("example.out_of_stock", errors.New("out of stock"))

// DeclinedError is an error type a task fails with; registered, the
// producer gets it back with errors.As.
type DeclinedError struct{ Reason string }

func (e *DeclinedError) Error() string { return "card declined: " + e.Reason }

func init() { taskflow.RegisterErrorType[*DeclinedError]("example.card_declined") }

func ExampleRegisterError() {
	reg := taskflow.NewRegistry()
	order, _ := taskflow.RegisterTask(reg, "order", func(ctx context.Context, item string) (string, error) {
		switch item {
		case "unicorn":
			return "", fmt.Errorf("reserve %s: %w", item, ErrOutOfStock)
		case "yacht":
			return "", &DeclinedError{Reason: "limit exceeded"}
		}
		return "ordered " + item, nil
	}, taskflow.MaxRetries(0))
	store := memstore.New()
	client, _ := taskflow.NewClient(store, taskflow.ClientOptions{})
	worker, _ := taskflow.NewWorker(store, taskflow.WorkerOptions{Registry: reg})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go worker.Run(ctx)

	for _, item := range []string{"unicorn", "yacht"} {
		h, _ := order.On(client).Enqueue(ctx, item)
		_, err := h.Wait(ctx)
		var declined *DeclinedError
		var jobErr *taskflow.JobError
		errors.As(err, &jobErr)
		fmt.Println(item, errors.Is(err, ErrOutOfStock), errors.As(err, &declined), jobErr.Code())
		if declined != nil {
			fmt.Println(declined.Reason)
		}
	}
	// Output:
	// unicorn true false example.out_of_stock
	// yacht false true example.card_declined
	// limit exceeded
}
