// Command observe runs a worker on the in-memory store with Prometheus
// metrics on /metrics and traces written to stdout, enqueues a few jobs,
// prints what a scrape of /metrics says about them, and exits.
//
//	go run ./examples/observe
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/taskflow-go/taskflow/filters"
	"github.com/taskflow-go/taskflow/storage/memstore"
	"github.com/taskflow-go/taskflow/taskflow"
	"github.com/taskflow-go/taskflow/taskflow/taskflowotel"
	"github.com/taskflow-go/taskflow/taskflow/taskflowprom"
)

// Thumbnail is a task that fails for odd sizes the first time.
var Thumbnail = taskflow.NewTask("thumbnail", func(ctx context.Context, size int) (string, error) {
	job, _ := taskflow.JobFromContext(ctx)
	time.Sleep(time.Duration(size) * time.Millisecond)
	if size%2 == 1 && job.Attempt == 1 {
		return "", errors.New("the image store timed out")
	}
	return fmt.Sprintf("thumb-%d.png", size), nil
}, taskflow.WithRetry(filters.Retry{MaxRetries: 2, Delay: func(int) time.Duration { return 0 }}))

func main() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	// Traces: to stdout, one JSON document per span.
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
	if err != nil {
		log.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracing := taskflowotel.New(taskflowotel.Options{TracerProvider: tp})

	// One event hub for the client and the worker; the collector reads it.
	store := memstore.New()
	hub := taskflow.NewEvents()
	client, err := taskflow.NewClient(store, taskflow.ClientOptions{Events: hub, Filters: []filters.Filter{tracing}})
	if err != nil {
		log.Fatal(err)
	}
	taskflow.SetDefault(client)
	collector := taskflowprom.New(hub, taskflowprom.Options{Client: client})
	defer collector.Close()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collector)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = http.Serve(ln, promhttp.HandlerFor(registry, promhttp.HandlerOpts{})) }()

	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{
		Events: hub, Filters: []filters.Filter{tracing},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	var handles []*taskflow.Handle[string]
	for _, size := range []int{16, 32, 33, 64} {
		h, err := Thumbnail.Enqueue(ctx, size)
		if err != nil {
			log.Fatal(err)
		}
		handles = append(handles, h)
	}
	for _, h := range handles {
		if _, err := h.Wait(ctx); err != nil {
			log.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the collector read the last events

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	fmt.Println("--- a scrape of /metrics, taskflow_job_events_total:")
	printMetrics(resp.Body, "taskflow_job_events_total{")
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
}

func printMetrics(r io.Reader, prefix string) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			fmt.Println(sc.Text())
		}
	}
}
