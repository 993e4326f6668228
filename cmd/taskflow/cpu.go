package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
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
	mem   runtime.MemStats      // at the start
}

func startCPU(pool *pgxpool.Pool) *cpuMeter {
	m := &cpuMeter{pool: pool, self: selfCPU(), procs: postgresCPU()}
	runtime.ReadMemStats(&m.mem)
	return m
}

// report prints the CPU time per job since startCPU.
func (m *cpuMeter) report(ctx context.Context, out io.Writer, n int) {
	self := selfCPU() - m.self
	line := fmt.Sprintf("cpu per job: taskflow %.1f µs", float64(self.Microseconds())/float64(n))
	if m.pool != nil {
		if pg, own, ok := m.postgres(ctx); ok {
			line += fmt.Sprintf(", postgres %.1f µs, together %.1f µs (postgres: its connections %.1f µs, background processes %.1f µs)",
				float64(pg.Microseconds())/float64(n), float64((self+pg).Microseconds())/float64(n),
				float64(own.Microseconds())/float64(n), float64((pg-own).Microseconds())/float64(n))
		}
	}
	fmt.Fprintln(out, line)
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	fmt.Fprintf(out, "allocations per job: %.1f (%.0f bytes); %d garbage collections\n",
		float64(mem.Mallocs-m.mem.Mallocs)/float64(n), float64(mem.TotalAlloc-m.mem.TotalAlloc)/float64(n), mem.NumGC-m.mem.NumGC)
}

// postgres returns the CPU time spent since the start by the server
// processes of this process's connections and the background ones, and
// that of the connections alone. The background processes (WAL writer,
// checkpointer, autovacuum) also work for other programs on the server.
func (m *cpuMeter) postgres(ctx context.Context) (all, own time.Duration, ok bool) {
	rows, err := m.pool.Query(ctx, `SELECT pid, backend_type = 'client backend' FROM pg_stat_activity
		WHERE application_name = $1 OR backend_type <> 'client backend'`, applicationName)
	if err != nil {
		return 0, 0, false
	}
	defer rows.Close()
	now := postgresCPU()
	for rows.Next() {
		var (
			pid    int
			client bool
		)
		if rows.Scan(&pid, &client) != nil {
			return 0, 0, false
		}
		d := now[pid] - m.procs[pid]
		all += d
		if client {
			own += d
		}
	}
	return all, own, rows.Err() == nil && len(now) > 0
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
