package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// clockTick is the unit of CPU times in /proc/PID/stat (USER_HZ), 100 on
// every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuMeter measures the CPU time spent by this process and, when
// PostgreSQL runs on this machine, by the server processes that serve it:
// its own connections and the server's background processes (WAL writer,
// checkpointer, autovacuum). CPU time, unlike throughput, hardly changes
// when other programs share the machine.
type cpuMeter struct {
	pool  *pgxpool.Pool // nil for the memory store
	self  time.Duration
	procs map[int]time.Duration // postgres processes' CPU time at the start
}

func startCPU(pool *pgxpool.Pool) *cpuMeter {
	return &cpuMeter{pool: pool, self: selfCPU(), procs: postgresCPU()}
}

// report prints the CPU time per job since startCPU.
func (m *cpuMeter) report(ctx context.Context, out io.Writer, n int) {
	self := selfCPU() - m.self
	line := fmt.Sprintf("cpu per job: taskflow %.1f µs", float64(self.Microseconds())/float64(n))
	if m.pool != nil {
		if pg, ok := m.postgres(ctx); ok {
			line += fmt.Sprintf(", postgres %.1f µs, together %.1f µs", float64(pg.Microseconds())/float64(n),
				float64((self+pg).Microseconds())/float64(n))
		}
	}
	fmt.Fprintln(out, line)
}

// postgres returns the CPU time spent since the start by the server
// processes of this process's connections and the background ones.
func (m *cpuMeter) postgres(ctx context.Context) (time.Duration, bool) {
	rows, err := m.pool.Query(ctx, `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 OR backend_type <> 'client backend'`, applicationName)
	if err != nil {
		return 0, false
	}
	defer rows.Close()
	now := postgresCPU()
	var total time.Duration
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return 0, false
		}
		total += now[pid] - m.procs[pid]
	}
	return total, rows.Err() == nil && len(now) > 0
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU returns the CPU time of each process named postgres on this
// machine, read from /proc; none where /proc cannot be read.
func postgresCPU() map[int]time.Duration {
	out := map[int]time.Duration{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != "postgres" {
			continue
		}
		f := strings.Fields(s[end+1:]) // from field 3, the state
		if len(f) < 13 {
			continue
		}
		pid, err1 := strconv.Atoi(strings.TrimSpace(s[:open]))
		utime, err2 := strconv.ParseInt(f[11], 10, 64)
		stime, err3 := strconv.ParseInt(f[12], 10, 64)
		if err1 == nil && err2 == nil && err3 == nil {
			out[pid] = time.Duration(utime+stime) * clockTick
		}
	}
	return out
}
