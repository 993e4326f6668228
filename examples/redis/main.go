// Command redis runs taskflow on Redis: a worker that stops gracefully on
// Ctrl-C, typed jobs, a continuation and a batch, all kept in Redis, so a
// second copy of this program on another machine would share the work.
//
//	redis-server --port 6379 &                 # or any Redis 7, or a cluster
//	go run ./examples/redis                     # TASKFLOW_REDIS_ADDR overrides 127.0.0.1:6379
package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage/redisstore"
	"github.com/taskflow-go/taskflow/taskflow"
)

var (
	// Shout upper-cases its argument.
	Shout = taskflow.NewTask("shout", func(_ context.Context, s string) (string, error) {
		return strings.ToUpper(s), nil
	})
	// Count counts the characters of its argument.
	Count = taskflow.NewTask("count", func(_ context.Context, s string) (int, error) {
		return len(s), nil
	})
)

func main() {
	addr := os.Getenv("TASKFLOW_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	// Several comma-separated addresses make a Redis Cluster client.
	addrs := strings.Split(addr, ",")
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1})
	defer rdb.Close() // the client is ours: taskflow never closes it

	store := redisstore.New(rdb, redisstore.Name("taskflow-example"))
	client := taskflow.Configure(store)

	// Ctrl-C or SIGTERM stops the worker gracefully: running jobs finish,
	// leased jobs not yet started go back to their queue.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{
		Concurrency: 4,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		log.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()

	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h, err := Shout.On(client).Enqueue(wait, "hello, redis")
	if err != nil {
		log.Fatal(err)
	}
	// Count runs once Shout has succeeded, with its result as arguments.
	n, err := taskflow.Then(wait, h, Count)
	if err != nil {
		log.Fatal(err)
	}
	batch, err := Shout.On(client).EnqueueBatch(wait, []string{"a", "b", "c"})
	if err != nil {
		log.Fatal(err)
	}
	loud, err := h.Wait(wait)
	if err != nil {
		log.Fatal(err)
	}
	length, err := n.Wait(wait)
	if err != nil {
		log.Fatal(err)
	}
	all, err := batch.Wait(wait)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%d characters), batch %v\n", loud, length, all)

	stop() // as Ctrl-C would
	if err := <-stopped; err != nil {
		log.Fatal(err)
	}
}
