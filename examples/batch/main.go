// Command batch creates a batch of jobs atomically, follows its progress,
// and runs a fan-in continuation once every job of the batch has finished.
//
//	go run ./examples/batch
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

var (
	// Resize resizes one image.
	Resize = taskflow.NewTask("resize", func(_ context.Context, image string) (string, error) {
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond)
		return image + "@thumb", nil
	})
	// Publish runs once the whole batch has finished.
	Publish = taskflow.NewTask("publish", func(_ context.Context, album string) (string, error) {
		return "album " + album + " published", nil
	})
)

func main() {
	store := memstore.New()
	client := taskflow.Configure(store)
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Concurrency: 4, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		log.Fatal(err)
	}
	go w.Run(ctx)

	images := []string{"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg", "g.jpg", "h.jpg"}
	batch, err := Resize.On(client).EnqueueBatch(ctx, images)
	if err != nil {
		log.Fatal(err)
	}
	publish, err := Publish.On(client).ContinueWith(ctx, batch.ID, "holidays")
	if err != nil {
		log.Fatal(err)
	}
	for {
		p, err := batch.Progress(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("batch: %d/%d succeeded, %d pending\n", p.Succeeded, p.Total, p.Pending)
		if p.Done() {
			break
		}
		time.Sleep(150 * time.Millisecond)
	}
	thumbs, err := batch.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(thumbs)
	msg, err := publish.Wait(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(msg)
}
