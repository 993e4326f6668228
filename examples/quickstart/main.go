// Command quickstart shows taskflow end to end on the in-memory store:
// typed tasks, a worker, awaited typed results, a delayed job, and a task
// that fails, is retried and succeeds, with its state history.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// EmailArgs are the arguments of SendEmail, stored as JSON.
type EmailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// Receipt is SendEmail's typed result.
type Receipt struct {
	MessageID string    `json:"message_id"`
	SentAt    time.Time `json:"sent_at"`
}

// SendEmail registers itself under the name "send-email" when declared.
var SendEmail = taskflow.NewTask("send-email",
	func(ctx context.Context, a EmailArgs) (Receipt, error) {
		return Receipt{MessageID: "msg-" + strings.SplitN(a.To, "@", 2)[0], SentAt: time.Now()}, nil
	},
	taskflow.Queue("mail"))

var calls atomic.Int32

// FetchRate fails twice (an upstream outage) and then succeeds. Its retry
// policy waits 100ms, then 200ms; the default is Hangfire's 10 retries
// over about a day.
var FetchRate = taskflow.NewTask("fetch-rate",
	func(ctx context.Context, currency string) (float64, error) {
		if calls.Add(1) <= 2 {
			return 0, errors.New("rates service unavailable")
		}
		return 1.08, nil
	},
	taskflow.WithRetry(filters.Retry{MaxRetries: 3, Delay: func(n int) time.Duration { return time.Duration(n) * 100 * time.Millisecond }}))

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	store := memstore.New()
	taskflow.Configure(store)

	worker, err := taskflow.NewWorker(store, taskflow.WorkerOptions{
		Queues: []string{"mail", "default"},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- worker.Run(ctx) }()

	// Fire-and-forget jobs, awaited here for their typed results.
	var handles []*taskflow.Handle[Receipt]
	for _, to := range []string{"ada@example.com", "grace@example.com"} {
		h, err := SendEmail.Enqueue(ctx, EmailArgs{To: to, Subject: "Welcome"})
		if err != nil {
			return err
		}
		handles = append(handles, h)
	}
	for _, h := range handles {
		r, err := h.Wait(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("sent %s (job %s)\n", r.MessageID, h.ID)
	}

	// A delayed job.
	start := time.Now()
	h, err := SendEmail.Enqueue(ctx, EmailArgs{To: "linus@example.com", Subject: "Later"}, taskflow.Delay(300*time.Millisecond))
	if err != nil {
		return err
	}
	r, err := h.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("sent %s after a delay of %s\n", r.MessageID, time.Since(start).Round(100*time.Millisecond))

	// A failure that is retried.
	rh, err := FetchRate.Enqueue(ctx, "EUR")
	if err != nil {
		return err
	}
	rate, err := rh.Wait(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("rate EUR = %.2f after %d attempts; history:\n", rate, calls.Load())
	job, err := rh.Job(ctx)
	if err != nil {
		return err
	}
	for _, c := range job.History {
		line := fmt.Sprintf("  %-10s", c.State.Name())
		if why := c.State.Why(); why != "" {
			line += "  " + why
		}
		fmt.Println(strings.TrimRight(line, " "))
	}

	stop()
	return <-stopped
}
