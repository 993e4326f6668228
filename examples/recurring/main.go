// Command recurring runs a recurring job every two seconds (a cron
// expression with a seconds field) on three workers sharing one store, and
// shows that each occurrence runs exactly once.
//
// The store is a SQLite file, so the schedule and the reports outlive the
// program: run it again and it reports the occurrences of earlier runs,
// and the schedule carries on where it stopped.
//
//	go run ./examples/recurring                                  # in $TMPDIR/taskflow-recurring.db
//	go run ./examples/recurring -store sqlite:///tmp/reports.db
//	go run ./examples/recurring -store memory:                   # forgets everything
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/states"
	_ "github.com/taskflow-go/taskflow/storage/memstore"
	_ "github.com/taskflow-go/taskflow/storage/sqlitestore"
	"github.com/taskflow-go/taskflow/taskflow"
)

// Report is what the recurring job computes.
type Report struct {
	Occurrence time.Time `json:"occurrence"`
}

var (
	mu   sync.Mutex
	runs = map[time.Time]int{}
)

// BuildReport runs for each occurrence; the occurrence is a job parameter.
var BuildReport = taskflow.NewTask("build-report", func(ctx context.Context, tenant string) (Report, error) {
	job, _ := taskflow.JobFromContext(ctx)
	var at time.Time
	if _, err := job.Param("taskflow.recurring_at", &at); err != nil {
		return Report{}, err
	}
	mu.Lock()
	runs[at]++
	mu.Unlock()
	fmt.Printf("report for %s, occurrence %s, started %s later\n", tenant, at.Format("15:04:05"), time.Since(at).Round(time.Millisecond))
	return Report{Occurrence: at}, nil
})

func main() {
	url := flag.String("store", "sqlite://"+filepath.Join(os.TempDir(), "taskflow-recurring.db"), "store URL")
	flag.Parse()
	ctx, stop := context.WithTimeout(context.Background(), 7*time.Second)
	defer stop()
	store, err := taskflow.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	client := taskflow.Configure(store)
	before, err := client.Jobs(ctx, taskflow.JobQuery{Task: "build-report", State: states.NameSucceeded, Limit: -1})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("store %s holds %d reports of earlier runs\n", *url, len(before))

	if err := BuildReport.AddRecurring(ctx, "acme-report", "*/2 * * * * *", "acme", taskflow.TimeZone("Europe/Berlin")); err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var wg sync.WaitGroup
	for range 3 {
		w, err := taskflow.NewWorker(store, taskflow.WorkerOptions{Logger: logger})
		if err != nil {
			log.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(ctx) }()
	}
	wg.Wait()

	def, err := client.RecurringJob(context.Background(), "acme-report")
	if err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	twice := 0
	for _, n := range runs {
		if n > 1 {
			twice++
		}
	}
	fmt.Printf("%d occurrences ran on 3 workers, %d of them more than once; next run %s\n",
		len(runs), twice, def.NextRun.Format(time.RFC3339))
}
