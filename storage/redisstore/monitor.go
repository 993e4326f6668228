package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// List implements [storage.Lister] (see list in listing.go): a page
// through a cursor reads about as much at any depth of one state's list,
// however large the store, and no call reads a whole set in one command.
func (s *Store) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := checkCursor(p.Cursor); err != nil {
		return nil, err
	}
	return s.list(ctx, p)
}

// checkCursor returns an error wrapping ErrBadCursor unless c is empty or
// a cursor that list made: "score member", a number and a job ID,
// or an enqueue sequence (16 digits) and a job ID.
func checkCursor(c string) error {
	if c == "" {
		return nil
	}
	score, member, ok := strings.Cut(c, " ")
	_, err := strconv.ParseFloat(score, 64)
	if len(member) == 16+36 && strings.Trim(member[:16], "0123456789") == "" {
		member = member[16:]
	}
	if !ok || err != nil || len(member) != 36 || uuid.Validate(member) != nil {
		return fmt.Errorf("%w: %q", storage.ErrBadCursor, c)
	}
	return nil
}

// Count implements [storage.Lister]. It counts the queues a page at a time;
// Processing jobs of one queue are counted from the lease set, a page at a
// time.
func (s *Store) Count(ctx context.Context, queue string) (map[states.Name]int64, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	queues := []string{queue}
	if queue == "" {
		var err error
		if queues, err = s.queueNames(ctx, false); err != nil {
			return nil, wrap("count", err)
		}
	}
	sum := map[states.Name]int64{states.NameEnqueued: 0, states.NameScheduled: 0, states.NameAwaiting: 0, states.NameProcessing: 0,
		states.NameSucceeded: 0, states.NameFailed: 0, states.NameDeleted: 0}
	err := inPages(queues, func(names []string) error {
		res, err := countScript.Run(ctx, s.rdb, []string{s.k.seq()}, s.scriptArgs(names)...).Result()
		if err != nil {
			return err
		}
		c, err := stateCounts(res)
		for st, n := range c {
			sum[st] += n
		}
		return err
	})
	if err != nil {
		return nil, wrap("count", err)
	}
	if queue == "" {
		sum[states.NameProcessing], err = s.rdb.ZCard(ctx, s.k.prefix+"lease").Result()
	} else {
		sum[states.NameProcessing], err = s.countLeased(ctx, queue)
	}
	if err != nil {
		return nil, wrap("count", err)
	}
	return sum, nil
}

// SetQueuePaused implements [storage.Queues].
func (s *Store) SetQueuePaused(ctx context.Context, queue string, paused bool) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	var err error
	if paused {
		err = s.rdb.SAdd(ctx, s.k.paused(), queue).Err()
	} else {
		_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.SRem(ctx, s.k.paused(), queue)
			p.Publish(ctx, s.k.wake(), int(storage.TopicEnqueued))
			return nil
		})
	}
	return wrap("pause queue", err)
}

// ListQueues implements [storage.Queues]. OldestEnqueued is when the job
// next to run became Enqueued.
func (s *Store) ListQueues(ctx context.Context) ([]storage.QueueInfo, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	names, err := s.queueNames(ctx, true)
	if err != nil {
		return nil, wrap("list queues", err)
	}
	out := []storage.QueueInfo{}
	err = inPages(names, func(names []string) error {
		res, err := queuesScript.Run(ctx, s.rdb, []string{s.k.seq()}, s.scriptArgs(names)...).Result()
		if err != nil {
			return err
		}
		rows, _ := res.([]any)
		for _, r := range rows {
			a, _ := r.([]any)
			if len(a) != 4 {
				return fmt.Errorf("unexpected reply %v", r)
			}
			name, _ := a[0].(string)
			n, _ := a[2].(int64)
			at, _ := a[3].(string)
			out = append(out, storage.QueueInfo{Name: name, Paused: a[1] == "1", Enqueued: n, OldestEnqueued: timeOfEntry(at)})
		}
		return nil
	})
	if err != nil {
		return nil, wrap("list queues", err)
	}
	slices.SortFunc(out, func(a, b storage.QueueInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Stats implements [storage.Statistics].
func (s *Store) Stats(ctx context.Context, from, to time.Time, step time.Duration) ([]storage.StatsPoint, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	step = max(step.Truncate(time.Minute), time.Minute)
	first := storage.StatsPeriod(from, step)
	if !to.After(first) {
		return storage.FillStats(from, to, step, nil), nil
	}
	minutes, err := s.rdb.ZRangeByScore(ctx, s.k.statsIndex(), &redis.ZRangeBy{Min: micros(first), Max: "(" + micros(to)}).Result()
	if err != nil {
		return nil, wrap("stats", err)
	}
	counted := map[time.Time]storage.StatsPoint{}
	if len(minutes) > 0 {
		fields := make([]string, 0, 3*len(minutes))
		for _, m := range minutes {
			fields = append(fields, m+":s", m+":f", m+":d")
		}
		vals, err := s.rdb.HMGet(ctx, s.k.stats(), fields...).Result()
		if err != nil {
			return nil, wrap("stats", err)
		}
		for i, m := range minutes {
			at := storage.StatsPeriod(fromMicros(m), step)
			c := counted[at]
			c.Succeeded += count(vals[3*i])
			c.Failed += count(vals[3*i+1])
			c.Deleted += count(vals[3*i+2])
			counted[at] = c
		}
	}
	return storage.FillStats(from, to, step, counted), nil
}

func count(v any) int64 {
	s, _ := v.(string)
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// DeleteExpired implements [storage.Pruner].
func (s *Store) DeleteExpired(ctx context.Context, p *storage.PruneParams) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	now := s.clock(p.Now)
	args, err := s.header(now, 0, 2)
	if err != nil {
		return 0, err
	}
	oldest := storage.StatsPeriod(now.Add(-storage.StatsRetention), time.Minute)
	res, err := s.run(ctx, "delete expired", pruneFunc, append(args, p.Limit, micros(oldest), micros(now.Add(-storage.RateTimeKept))))
	if err != nil {
		return 0, err
	}
	n, _ := res.(int64)
	return int(n), nil
}

// logRecord is how a log record or a progress report is stored.
type logRecord struct {
	Attempt int             `json:"n"`
	At      int64           `json:"t"`
	Level   string          `json:"l,omitempty"`
	Message string          `json:"m,omitempty"`
	Attrs   json.RawMessage `json:"a,omitempty"`
	Percent int             `json:"p,omitempty"`
}

// MaxLogRecords is the most log records a job keeps: its latest, the
// older ones dropped as new ones come, so that a task that logs in a loop
// cannot grow its job without bound.
const MaxLogRecords = 1000

// AppendLogs implements [storage.JobLogs]. A job keeps its latest
// [MaxLogRecords] records.
func (s *Store) AppendLogs(ctx context.Context, records []storage.LogRecord) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	args := make([]any, 0, 3+2*len(records))
	args = append(args, s.k.prefix, "log", MaxLogRecords)
	for _, r := range records {
		b, err := json.Marshal(logRecord{Attempt: r.Attempt, At: r.At.UnixMicro(), Level: r.Level, Message: r.Message, Attrs: r.Attrs})
		if err != nil {
			return fmt.Errorf("redisstore: encode log record: %w", err)
		}
		args = append(args, r.JobID.String(), b)
	}
	return s.runLogs(ctx, args)
}

// SetProgress implements [storage.JobLogs].
func (s *Store) SetProgress(ctx context.Context, progress []storage.Progress) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	args := make([]any, 0, 3+2*len(progress))
	args = append(args, s.k.prefix, "prog", MaxLogRecords)
	for _, p := range progress {
		b, err := json.Marshal(logRecord{Attempt: p.Attempt, At: p.At.UnixMicro(), Message: p.Message, Percent: p.Percent})
		if err != nil {
			return fmt.Errorf("redisstore: encode progress: %w", err)
		}
		args = append(args, p.JobID.String(), b)
	}
	return s.runLogs(ctx, args)
}

func (s *Store) runLogs(ctx context.Context, args []any) error {
	if len(args) == 3 {
		return nil
	}
	err := logsScript.Run(ctx, s.rdb, []string{s.k.seq()}, args...).Err()
	return wrap("store logs", err)
}

// JobLogs implements [storage.JobLogs].
func (s *Store) JobLogs(ctx context.Context, id uuid.UUID) ([]storage.LogRecord, *storage.Progress, error) {
	if err := s.begin(ctx); err != nil {
		return nil, nil, err
	}
	var (
		exists *redis.IntCmd
		logs   *redis.StringSliceCmd
		prog   *redis.StringCmd
	)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, s.k.job(id))
		logs = p.LRange(ctx, s.k.log(id), 0, -1)
		prog = p.Get(ctx, s.k.progress(id))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, wrap("job logs", err)
	}
	if exists.Val() == 0 {
		return nil, nil, fmt.Errorf("redisstore: job %s: %w", id, storage.ErrNotFound)
	}
	out := make([]storage.LogRecord, 0, len(logs.Val()))
	for _, v := range logs.Val() {
		var r logRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, nil, fmt.Errorf("redisstore: decode log record: %w", err)
		}
		out = append(out, storage.LogRecord{JobID: id, Attempt: r.Attempt, At: time.UnixMicro(r.At).UTC(), Level: r.Level, Message: r.Message, Attrs: r.Attrs})
	}
	var p *storage.Progress
	if v := prog.Val(); v != "" {
		var r logRecord
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			return nil, nil, fmt.Errorf("redisstore: decode progress: %w", err)
		}
		p = &storage.Progress{JobID: id, Attempt: r.Attempt, Percent: r.Percent, Message: r.Message, At: time.UnixMicro(r.At).UTC()}
	}
	return out, p, nil
}
