// Command dashboard serves the taskflow dashboard with a worker running a
// few demonstration tasks (some fail, one panics, one reports progress), a
// recurring job and a batch, and prints its URL.
//
// The store is a SQLite file: stop the program and start it again, and the
// jobs and their history are still there (and so is the delayed job, which
// the file keeps until its hour has come). Point `taskflow dashboard
// --store URL`, or `taskflow jobs list --store URL`, at the same file while
// it runs.
//
//	go run ./examples/dashboard                                  # until interrupted, in $TMPDIR/taskflow-dashboard.db
//	go run ./examples/dashboard -for 5s                          # for five seconds
//	go run ./examples/dashboard -store memory:                   # forgets everything
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/taskflow-go/taskflow/dashboard"
	"github.com/taskflow-go/taskflow/filters"
	_ "github.com/taskflow-go/taskflow/storage/memstore"
	_ "github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Order is the argument of the demonstration tasks.
type Order struct {
	ID       int    `json:"id"`
	Customer string `json:"customer"`
}

var (
	// Charge succeeds mostly, and fails for one order in five.
	Charge = taskflow.NewTask("charge", func(ctx context.Context, o Order) (string, error) {
		time.Sleep(time.Duration(20+rand.IntN(200)) * time.Millisecond)
		if o.ID%5 == 0 {
			return "", errors.New("card declined")
		}
		return fmt.Sprintf("receipt-%d", o.ID), nil
	}, taskflow.Queue("payments"), taskflow.WithRetry(filters.NoRetry))
	// Export reports its progress and logs as it goes.
	Export = taskflow.NewTask("export", func(ctx context.Context, o Order) (int, error) {
		log := taskflow.Logger(ctx)
		for i := 1; i <= 10; i++ {
			taskflow.SetProgress(ctx, i*10, "exporting")
			log.Info("exported a page", "page", i)
			time.Sleep(300 * time.Millisecond)
		}
		return 10, nil
	})
	// Broken panics, to show a stack.
	Broken = taskflow.NewTask("broken", func(ctx context.Context, o Order) (int, error) {
		panic(fmt.Sprintf("order %d: no stock record", o.ID))
	}, taskflow.WithRetry(filters.NoRetry))
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	runFor := flag.Duration("for", 0, "stop after this long (0: until interrupted)")
	url := flag.String("store", "sqlite://"+filepath.Join(os.TempDir(), "taskflow-dashboard.db"), "store URL")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *runFor > 0 {
		ctx, stop = context.WithTimeout(ctx, *runFor)
		defer stop()
	}

	store, err := taskflow.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client := taskflow.Configure(store)
	fmt.Printf("store: %s\n", *url)
	w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Queues: []string{"payments", "default"}, Concurrency: 4,
		Logger: slog.New(slog.DiscardHandler)}) // failures are part of the show: see them on the dashboard
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = w.Run(ctx) }()
	if err := seed(ctx, client); err != nil {
		log.Fatal(err)
	}

	dash, err := dashboard.New(client, dashboard.Options{})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/taskflow/", http.StripPrefix("/taskflow", dash))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Printf("taskflow dashboard: http://%s/taskflow/\n", ln.Addr())

	// A steady trickle of orders, for the live graph.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for n := 100; ; n++ {
		select {
		case <-ctx.Done():
			_ = srv.Shutdown(context.Background())
			return
		case <-tick.C:
			if _, err := Charge.Enqueue(ctx, Order{ID: n, Customer: "customer " + fmt.Sprint(n)}); err != nil && ctx.Err() == nil {
				log.Print(err)
			}
		}
	}
}

// seed enqueues one job of each kind.
func seed(ctx context.Context, client *taskflow.Client) error {
	for i := 1; i <= 12; i++ {
		if _, err := Charge.Enqueue(ctx, Order{ID: i, Customer: "ada"}); err != nil {
			return err
		}
	}
	if _, err := Export.Enqueue(ctx, Order{ID: 1}); err != nil {
		return err
	}
	if _, err := Broken.Enqueue(ctx, Order{ID: 2}); err != nil {
		return err
	}
	if _, err := Charge.Enqueue(ctx, Order{ID: 99, Customer: "later"}, taskflow.Delay(time.Hour)); err != nil {
		return err
	}
	if _, err := Charge.On(client).EnqueueBatch(ctx, []Order{{ID: 201}, {ID: 202}, {ID: 203}}); err != nil {
		return err
	}
	return Export.AddRecurring(ctx, "nightly-export", "0 2 * * *", Order{ID: 7}, taskflow.TimeZone("Europe/Paris"))
}
