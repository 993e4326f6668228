// Command pipeline chains typed continuations: each step receives the
// previous step's result as its arguments, checked by the compiler, and a
// failure handler runs only if a step fails for good.
//
//	go run ./examples/pipeline
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Upload is the input of the pipeline.
type Upload struct{ Name, Body string }

// Parsed is what Parse returns and Index takes.
type Parsed struct {
	Name  string
	Words []string
}

// Indexed is what Index returns and Notify takes.
type Indexed struct {
	Name  string
	Terms int
}

var (
	Parse = taskflow.NewTask("parse", func(_ context.Context, u Upload) (Parsed, error) {
		if u.Body == "" {
			return Parsed{}, errors.New("empty document")
		}
		return Parsed{Name: u.Name, Words: strings.Fields(u.Body)}, nil
	}, taskflow.MaxRetries(0))
	Index = taskflow.NewTask("index", func(_ context.Context, p Parsed) (Indexed, error) {
		return Indexed{Name: p.Name, Terms: len(p.Words)}, nil
	})
	Notify = taskflow.NewTask("notify", func(_ context.Context, ix Indexed) (string, error) {
		return fmt.Sprintf("%s indexed with %d terms", ix.Name, ix.Terms), nil
	})
	Alert = taskflow.NewTask("alert", func(_ context.Context, name string) (string, error) {
		return "alert: processing " + name + " failed", nil
	})
)

func main() {
	store := memstore.New()
	client := taskflow.Configure(store)
	ctx, stop := context.WithTimeout(context.Background(), 10*time.Second)
	defer stop()
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		log.Fatal(err)
	}
	go w.Run(ctx)

	for _, u := range []Upload{{"report.txt", "the quick brown fox"}, {"empty.txt", ""}} {
		parsed, err := Parse.Enqueue(ctx, u)
		if err != nil {
			log.Fatal(err)
		}
		indexed, err := taskflow.Then(ctx, parsed, Index) // Index takes Parsed: checked at compile time
		if err != nil {
			log.Fatal(err)
		}
		notified, err := taskflow.Then(ctx, indexed, Notify)
		if err != nil {
			log.Fatal(err)
		}
		alert, err := Alert.On(client).ContinueWith(ctx, parsed.ID, u.Name, taskflow.ContinueOn(states.OnFailure))
		if err != nil {
			log.Fatal(err)
		}

		if msg, err := notified.Wait(ctx); err == nil {
			fmt.Println(msg)
		} else {
			fmt.Println("notify did not run:", errors.Is(err, taskflow.ErrJobDeleted))
		}
		if msg, err := alert.Wait(ctx); err == nil {
			fmt.Println(msg)
		} else {
			fmt.Println("no alert for", u.Name, "(the condition was not met)")
		}
	}
}
