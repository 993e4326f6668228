// Command restart shows jobs outliving their program: it keeps them in a
// SQLite file, enqueues twenty slow jobs, works for a second and stops,
// with most of them still waiting. Run it again: it finds the jobs the
// last run left, and finishes them.
//
//	go run ./examples/restart    # enqueues, works a second, stops
//	go run ./examples/restart    # finishes what the first run left
//	go run ./examples/restart -store sqlite:///tmp/restart.db
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/taskflow-go/taskflow/states"
	_ "github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Resize stands for slow work: a quarter of a second per image.
var Resize = taskflow.NewTask("resize", func(ctx context.Context, image int) (string, error) {
	select {
	case <-time.After(250 * time.Millisecond):
		return fmt.Sprintf("image-%d-small.png", image), nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
})

func main() {
	url := flag.String("store", "sqlite://"+filepath.Join(os.TempDir(), "taskflow-restart.db"), "store URL")
	flag.Parse()
	ctx := context.Background()
	store, err := taskflow.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client := taskflow.Configure(store)

	counts, err := client.JobCounts(ctx)
	if err != nil {
		log.Fatal(err)
	}
	left := counts.Jobs[states.NameEnqueued] + counts.Jobs[states.NameProcessing]
	runFor := time.Second
	if left == 0 {
		images := make([]int, 20)
		for i := range images {
			images[i] = i + 1
		}
		if _, err := Resize.EnqueueMany(ctx, images); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("enqueued 20 jobs in %s; working for %s, then stopping\n", *url, runFor)
	} else {
		fmt.Printf("found %d jobs left by the last run (and %d it finished); finishing them\n", left, counts.Jobs[states.NameSucceeded])
		runFor = time.Minute
	}

	runCtx, stop := context.WithTimeout(ctx, runFor)
	defer stop()
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Concurrency: 2, ShutdownTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	for runCtx.Err() == nil {
		c, err := client.JobCounts(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if left > 0 && c.Jobs[states.NameEnqueued]+c.Jobs[states.NameProcessing] == 0 {
			stop()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	c, err := client.JobCounts(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("stopped: %d succeeded, %d waiting\n", c.Jobs[states.NameSucceeded], c.Jobs[states.NameEnqueued]+c.Jobs[states.NameProcessing])
	if c.Jobs[states.NameEnqueued]+c.Jobs[states.NameProcessing] > 0 {
		fmt.Println("run it again to finish them")
	}
}
