package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// sep separates the parts of a history entry: state, time, reason, data.
const sep = "\x1f"

// header returns the arguments every job script starts with (see
// lua/lib.lua): the key prefix, now, the retention of continuations deleted
// on the way, and the state data of the moves a script makes on its own.
func (s *Store) header(now time.Time, retention time.Duration, extra int) ([]any, error) {
	enq, err := states.Marshal(states.Enqueued{Queue: "\x01", EnqueuedAt: now, Reason: "\x02"})
	if err != nil {
		return nil, err
	}
	q, r := bytes.Index(enq, []byte(`"\u0001"`)), bytes.Index(enq, []byte(`"\u0002"`))
	if q < 0 || r < q {
		return nil, fmt.Errorf("redisstore: unexpected encoding of the Enqueued state: %s", enq)
	}
	del, err := states.Marshal(states.Deleted{DeletedAt: now, Reason: "continuation condition was not met"})
	if err != nil {
		return nil, err
	}
	args := make([]any, 7, 7+extra)
	args[0], args[1], args[2] = s.k.prefix, micros(now), strconv.FormatInt(retention.Microseconds(), 10)
	// Packed part by part: the script puts JSON strings between them.
	args[3], args[4], args[5] = packer.Replace(string(enq[:q])), packer.Replace(string(enq[q+8:r])), packer.Replace(string(enq[r+8:]))
	args[6] = packData(del)
	return args, nil
}

// run calls a function of the job library.
func (s *Store) run(ctx context.Context, op string, f jobFunc, args []any) (any, error) {
	res, err := f.call(ctx, s.rdb, []string{s.k.seq()}, args...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, wrap(op, err)
	}
	return res, nil
}

// appendJobs appends the jobs to args in the layout of create in
// lua/lib.lua: per job its ID, state, queue, priority, run time, unique key,
// parent and batch and continuation condition, then the fields of its hash
// as a count and name/value pairs.
func appendJobs(args []any, jobs []*storage.Job) ([]any, error) {
	var reasons storage.Reasons
	args = append(args, len(jobs))
	for _, j := range jobs {
		if j.Priority < -maxPriority || j.Priority > maxPriority {
			return nil, fmt.Errorf("%w: job %s has priority %d, want -2^53 to 2^53", ErrInvalidPriority, j.ID, j.Priority)
		}
		var on, argsFrom string
		if j.State == states.NameAwaiting {
			st, err := states.Unmarshal(states.NameAwaiting, j.StateData)
			if err != nil {
				return nil, fmt.Errorf("redisstore: job %s: %w", j.ID, err)
			}
			on = string(st.(states.Awaiting).On)
			if st.(states.Awaiting).ArgsFromResult {
				argsFrom = "1"
			}
		}
		first := storage.StateRecord{State: j.State, At: j.CreatedAt, Reason: reasonOf(&reasons, j.State, j.StateData), Data: j.StateData}
		// No creation time and no history length: the first history entry
		// holds one, and a job without hn has that one entry.
		runAt := micros(j.RunAt)
		parent, batch := idOrEmpty(j.ParentID), idOrEmpty(j.BatchID)
		args = append(args, j.ID.String(), string(j.State), j.Queue, j.Priority, runAt, j.UniqueKey, parent, batch, on, 0)
		count := len(args) - 1 // the number of fields, set below
		// pk is always present, at a fixed place: the scripts read it
		// there (see plainCreate in lua/lib.lua).
		args = append(args, "t", j.Task, "q", j.Queue, "s", string(j.State), "pk", j.Partition)
		args = appendValue(args, "a", j.Args)
		args = appendValue(args, "h1", historyEntry(first))
		opt := func(name, v string) {
			if v != "" {
				args = append(args, name, v)
			}
		}
		if j.Priority != 0 {
			opt("p", strconv.Itoa(j.Priority))
		}
		opt("ra", runAt)
		opt("pa", parent)
		opt("b", batch)
		opt("k", j.UniqueKey)
		opt("ku", micros(j.UniqueUntil))
		opt("on", on)
		opt("ar", argsFrom)
		for name, v := range j.Params {
			args = append(args, "p:"+name, []byte(v))
		}
		args[count] = (len(args) - count - 1) / 2
	}
	return args, nil
}

// reasonOf returns the reason recorded in data, the encoding of a state
// called name. taskflow's states keep theirs under "reason": data without
// that word (nor an escape that could spell it) holds none, and is not
// decoded.
func reasonOf(r *storage.Reasons, name states.Name, data []byte) string {
	if _, ok := entryCodes[name]; ok && !bytes.Contains(data, []byte("reason")) && !bytes.Contains(data, []byte(`\u`)) {
		return ""
	}
	return r.Of(name, data)
}

// Values longer than piece bytes, up to pieces pieces, are stored in
// pieces (name, name#2, name#3, ...), so that a job's hash keeps Redis'
// compact encoding, whose values are at most 64 bytes by default
// (hash-max-listpack-value). lua/lib.lua (put) does the same.
const piece, pieces = 64, 8

// appendValue appends to fields the name/value pairs that store v under
// name.
func appendValue[V string | []byte](fields []any, name string, v V) []any {
	if len(v) <= piece || len(v) > piece*pieces {
		return append(fields, name, v)
	}
	for k, i := 1, 0; i < len(v); k, i = k+1, i+piece {
		n := name
		if k > 1 {
			n += "#" + strconv.Itoa(k)
		}
		fields = append(fields, n, v[i:min(i+piece, len(v))])
	}
	return fields
}

func idOrEmpty(id uuid.UUID) string {
	if id == uuid.Nil {
		return ""
	}
	return id.String()
}

// createResult reads create's answer (see lua/lib.lua) to the creation of
// jobs: a lone "ok" means each job was stored under its own ID.
func createResult(res any, jobs []*storage.Job) ([]uuid.UUID, error) {
	out, _ := res.([]any)
	if len(out) == 0 {
		return nil, fmt.Errorf("redisstore: create: unexpected reply %v", res)
	}
	switch out[0] {
	case "ok":
	case "dup":
		return nil, fmt.Errorf("redisstore: create job %v: %w", out[1], storage.ErrDuplicate)
	case "nf":
		return nil, fmt.Errorf("redisstore: job %v awaits %v: %w", out[1], out[2], storage.ErrNotFound)
	case "conflict":
		return nil, fmt.Errorf("redisstore: recurring job was fired or changed meanwhile: %w", storage.ErrStateConflict)
	default:
		return nil, fmt.Errorf("redisstore: create: unexpected reply %v", out[0])
	}
	if len(out) == 1 {
		ids := make([]uuid.UUID, len(jobs))
		for i, j := range jobs {
			ids[i] = j.ID
		}
		return ids, nil
	}
	ids := make([]uuid.UUID, len(out)-1)
	for i, v := range out[1:] {
		str, _ := v.(string)
		id, err := uuid.Parse(str)
		if err != nil {
			return nil, fmt.Errorf("redisstore: create: %w", err)
		}
		ids[i] = id
	}
	return ids, nil
}

// Create implements [storage.Store].
func (s *Store) Create(ctx context.Context, p *storage.CreateParams) ([]uuid.UUID, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if len(p.Jobs) == 0 {
		return []uuid.UUID{}, nil
	}
	now := s.clock(p.Now)
	c, err := newCreateCall(p, micros(now))
	if err != nil {
		return nil, err
	}
	if !awaits(p.Jobs) {
		// Only continuations move on in a create call: no state data
		// needed, and the call may go with others.
		return s.createGathered(ctx, c)
	}
	args, err := s.header(now, p.Retention, 1+len(c.group))
	if err != nil {
		return nil, err
	}
	args = append(append(args, 1), c.group...)
	res, err := s.run(ctx, "create", createFunc, args)
	if err != nil {
		return nil, err
	}
	groups, _ := res.([]any)
	if len(groups) != 1 {
		return nil, fmt.Errorf("redisstore: create: unexpected reply %v", res)
	}
	return createResult(groups[0], p.Jobs)
}

// beginFetch checks what every Fetch checks first.
func (s *Store) beginFetch(ctx context.Context, p *storage.FetchParams) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if p.Limit < 1 {
		return fmt.Errorf("redisstore: fetch: limit %d, want at least 1", p.Limit)
	}
	return nil
}

// awaits reports whether any of jobs is Awaiting.
func awaits(jobs []*storage.Job) bool {
	for _, j := range jobs {
		if j.State == states.NameAwaiting {
			return true
		}
	}
	return false
}

// maxFetchPerCall bounds the jobs one call of the fetch function leases:
// 1,000 take the server a few milliseconds.
const maxFetchPerCall = 1000

// Fetch implements [storage.Store].
func (s *Store) Fetch(ctx context.Context, p *storage.FetchParams) ([]*storage.Job, error) {
	if err := s.beginFetch(ctx, p); err != nil {
		return nil, err
	}
	now := s.clock(p.Now)
	data, err := states.Marshal(states.Processing{StartedAt: now, ServerID: p.Owner})
	if err != nil {
		return nil, err
	}
	ranges := fetchRanges(p)
	if len(ranges) == 0 {
		return nil, nil
	}
	// A large fetch is leased in calls of at most maxFetchPerCall jobs, so
	// that no one function call holds the server (single-threaded) for
	// long; each call is atomic, and together they serve the same order.
	args := []any{s.k.prefix, micros(now), "0", "", "", "", "", p.Owner, micros(now.Add(p.LeaseFor)), packData(data), 0, len(ranges) / 3}
	args = append(args, ranges...)
	var jobs []*storage.Job
	for len(jobs) < p.Limit {
		want := min(p.Limit-len(jobs), maxFetchPerCall)
		args[10] = want
		res, err := s.run(ctx, "fetch", fetchFunc, args)
		if err != nil {
			if len(jobs) > 0 {
				break // what is leased is returned; the rest waits for the next fetch
			}
			return nil, err
		}
		got, err := decodeRows(res)
		if err != nil && len(jobs) == 0 {
			return nil, err
		}
		jobs = append(jobs, got...)
		if err != nil || len(got) < want {
			break
		}
	}
	// The reply holds each job as it was, with its new lease and attempt:
	// what else the lease changed is known here, as written (a time in
	// whole microseconds).
	at := time.UnixMicro(now.UnixMicro()).UTC()
	for _, j := range jobs {
		j.State, j.StateData, j.UpdatedAt = states.NameProcessing, bytes.Clone(data), at
	}
	return jobs, nil
}

// decodeRows decodes a reply that holds jobs' hashes (see pairs), without
// their history.
func decodeRows(res any) ([]*storage.Job, error) {
	rows, _ := res.([]any)
	out := make([]*storage.Job, 0, len(rows))
	for _, r := range rows {
		j, err := decodeJob(pairs(r), false)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// fetchRanges returns, for each queue Fetch serves, in order, its name and
// the range of ready-set scores to take (see lua/fetch.lua): a job's score
// is minus its priority.
func fetchRanges(p *storage.FetchParams) []any {
	var out []any
	reached := p.NotAbove == nil // queues before NotAbove.Queue are not served
	for _, q := range p.Queues {
		lo, hi := "-inf", "+inf"
		if n := p.NotAbove; n != nil && n.Queue == q {
			reached = true
			lo = strconv.FormatFloat(-float64(n.Priority), 'f', -1, 64) // priority at most n
		}
		last := p.Above != nil && p.Above.Queue == q
		if last {
			hi = "(" + strconv.FormatFloat(-float64(p.Above.Priority), 'f', -1, 64) // priority above a
		}
		if reached {
			out = append(out, q, lo, hi)
		}
		if last {
			break
		}
	}
	return out
}

// pairs turns a HGETALL reply into name/value pairs.
func pairs(v any) []string {
	a, _ := v.([]any)
	out := make([]string, len(a))
	for i, x := range a {
		switch v := x.(type) {
		case string:
			out[i] = v
		case int64: // a number a script computed
			out[i] = strconv.FormatInt(v, 10)
		}
	}
	return out
}

// decodeJob decodes a job's hash, given as name/value pairs; its history
// only when withHistory is set.
func decodeJob(kv []string, withHistory bool) (*storage.Job, error) {
	j := &storage.Job{}
	var (
		id   string
		hn   = 1
		hist = map[int]string{}
		more map[string]map[int]string // pieces after the first, by name
	)
	for i := 0; i+1 < len(kv); i += 2 {
		name, v := kv[i], kv[i+1]
		switch name {
		case "id":
			id = v
		case "t":
			j.Task = v
		case "a":
			j.Args = []byte(v)
		case "q":
			j.Queue = v
		case "pk":
			j.Partition = v
		case "p":
			j.Priority, _ = strconv.Atoi(v)
		case "s":
			j.State = states.Name(v)
		case "hn":
			hn, _ = strconv.Atoi(v)
		case "ra":
			j.RunAt = fromMicros(v)
		case "n":
			j.Attempt, _ = strconv.Atoi(v)
		case "x":
			j.ExpireAt = fromMicros(v)
		case "pa":
			j.ParentID, _ = uuid.Parse(v)
		case "b":
			j.BatchID, _ = uuid.Parse(v)
		case "k":
			j.UniqueKey = v
		case "ku":
			j.UniqueUntil = fromMicros(v)
		case "l": // "token SEP expiry SEP owner", or "" (see lua/lib.lua, lease)
			j.LeaseToken, j.LeaseUntil, j.LeaseOwner = 0, time.Time{}, ""
			if tok, rest, ok := strings.Cut(v, sep); ok {
				until, owner, _ := strings.Cut(rest, sep)
				j.LeaseToken, _ = strconv.ParseInt(tok, 10, 64)
				j.LeaseUntil, j.LeaseOwner = fromMicros(until), owner
			}
		default:
			switch {
			case strings.HasPrefix(name, "p:"):
				if j.Params == nil {
					j.Params = map[string]json.RawMessage{}
				}
				j.Params[name[2:]] = json.RawMessage(v)
			case strings.Contains(name, "#"):
				base, k, _ := strings.Cut(name, "#")
				n, err := strconv.Atoi(k)
				if err != nil || n < 2 {
					continue
				}
				if more == nil {
					more = map[string]map[int]string{}
				}
				if more[base] == nil {
					more[base] = map[int]string{}
				}
				more[base][n] = v
			case len(name) > 1 && name[0] == 'h':
				if n, err := strconv.Atoi(name[1:]); err == nil {
					hist[n] = v
				}
			}
		}
	}
	if more != nil {
		if m := more["a"]; m != nil {
			j.Args = []byte(joinPieces(string(j.Args), m))
		}
		for n, v := range hist {
			if m := more["h"+strconv.Itoa(n)]; m != nil {
				hist[n] = joinPieces(v, m)
			}
		}
	}
	if id != "" {
		parsed, err := uuid.Parse(id)
		if err != nil {
			return nil, fmt.Errorf("redisstore: job ID %q: %w", id, err)
		}
		j.ID = parsed
	}
	// The last history entry is the current state.
	entry := func(n int) (storage.StateRecord, error) {
		parts := strings.SplitN(hist[n], sep, 4)
		if len(parts) != 4 {
			return storage.StateRecord{}, fmt.Errorf("redisstore: job %s: history entry %d of %d is malformed", j.ID, n, hn)
		}
		return storage.StateRecord{State: stateOfEntry(parts[0]), At: timeOfEntry(parts[1]), Reason: parts[2], Data: unpackData(parts[3])}, nil
	}
	current, err := entry(hn)
	if err != nil {
		return nil, err
	}
	j.StateData, j.UpdatedAt = current.Data, current.At
	if hn == 1 {
		j.CreatedAt = current.At
	} else {
		first, err := entry(1)
		if err != nil {
			return nil, err
		}
		j.CreatedAt = first.At
	}
	if withHistory {
		j.History = make([]storage.StateRecord, 0, hn)
		for n := 1; n < hn; n++ {
			e, err := entry(n)
			if err != nil {
				return nil, err
			}
			j.History = append(j.History, e)
		}
		j.History = append(j.History, current)
	}
	return j, nil
}

// Transition implements [storage.Store].
func (s *Store) Transition(ctx context.Context, p *storage.TransitionParams) ([]error, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if len(p.Transitions) == 0 {
		return []error{}, nil
	}
	now := s.clock(p.Now)
	args, err := s.header(now, p.Retention, 3+len(p.Transitions)*13)
	if err != nil {
		return nil, err
	}
	all := "0"
	if p.AllOrNothing {
		all = "1"
	}
	args = append(args, all, micros(storage.StatsPeriod(now, time.Minute)), len(p.Transitions))
	for i := range p.Transitions {
		t := &p.Transitions[i]
		from := make([]string, len(t.From))
		for k, f := range t.From {
			from[k] = string(f)
		}
		args = append(args, t.ID.String(), strings.Join(from, ","), t.Token, t.Owner, string(t.To), packData(t.Data), entryReason(t.Reason),
			t.Queue, micros(t.RunAt), micros(t.ExpireAt), refund(t.Refund), len(t.Traversed))
		for _, h := range t.Traversed {
			args = append(args, historyEntry(h))
		}
		args = append(args, len(t.Params))
		for name, v := range t.Params {
			args = append(args, name, []byte(v))
		}
	}
	res, err := s.run(ctx, "transition", transitionFunc, args)
	if err != nil {
		return nil, err
	}
	codes, _ := res.([]any)
	if len(codes) != len(p.Transitions) {
		return nil, fmt.Errorf("redisstore: transition: %d results for %d transitions", len(codes), len(p.Transitions))
	}
	errs := make([]error, len(codes))
	for i, c := range codes {
		code, _ := c.(string)
		t := &p.Transitions[i]
		switch {
		case code == "":
		case code == "nf":
			errs[i] = fmt.Errorf("redisstore: job %s: %w", t.ID, storage.ErrNotFound)
		case strings.HasPrefix(code, "ll:"):
			errs[i] = fmt.Errorf("redisstore: job %s token %d: %w", t.ID, t.Token, storage.ErrLeaseLost)
		default:
			errs[i] = fmt.Errorf("redisstore: job %s is %s, not %v: %w", t.ID, strings.TrimPrefix(code, "sc:"), t.From, storage.ErrStateConflict)
		}
	}
	return errs, nil
}

// refund encodes Transition.Refund for the transition script.
func refund(r bool) string {
	if r {
		return "1"
	}
	return "0"
}

// joinPieces returns first followed by the pieces in m, numbered from 2.
func joinPieces(first string, m map[int]string) string {
	var b strings.Builder
	b.WriteString(first)
	for k := 2; k <= len(m)+1; k++ {
		b.WriteString(m[k])
	}
	return b.String()
}

// historyEntry encodes a history entry as the scripts do (lua/lib.lua,
// entry), its data packed (packData).
func historyEntry(h storage.StateRecord) string {
	return entryState(h.State) + sep + entryTime(h.At) + sep + entryReason(h.Reason) + sep + packData(h.Data)
}

// entryReason keeps the separator of a history entry's parts out of a
// reason.
func entryReason(reason string) string { return strings.ReplaceAll(reason, sep, " ") }

// ExtendLeases implements [storage.Store].
func (s *Store) ExtendLeases(ctx context.Context, p *storage.ExtendParams) ([]storage.LostLease, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var workerID, worker string
	if p.Worker != nil {
		b, err := json.Marshal(p.Worker)
		if err != nil {
			return nil, fmt.Errorf("redisstore: encode worker: %w", err)
		}
		workerID, worker = p.Worker.ID, string(b)
	}
	args := make([]any, 0, 13+2*len(p.Jobs))
	args = append(args, s.k.prefix, "", "0", "", "", "", "", p.Owner, micros(p.Until), workerID, worker, len(p.Jobs))
	for id, token := range p.Jobs {
		args = append(args, id.String(), token)
	}
	res, err := s.run(ctx, "extend leases", extendFunc, args)
	if err != nil {
		return nil, err
	}
	kv := pairs(res)
	var lost []storage.LostLease
	for i := 0; i+1 < len(kv); i += 2 {
		id, err := uuid.Parse(kv[i])
		if err != nil {
			return nil, fmt.Errorf("redisstore: extend leases: %w", err)
		}
		lost = append(lost, storage.LostLease{ID: id, State: states.Name(kv[i+1])})
	}
	return lost, nil
}

// PromoteDue implements [storage.Store].
func (s *Store) PromoteDue(ctx context.Context, p *storage.PromoteParams) (storage.PromoteResult, error) {
	if err := s.begin(ctx); err != nil {
		return storage.PromoteResult{}, err
	}
	args, err := s.header(s.clock(p.Now), 0, 1)
	if err != nil {
		return storage.PromoteResult{}, err
	}
	res, err := s.run(ctx, "promote", promoteFunc, append(args, p.Limit))
	if err != nil {
		return storage.PromoteResult{}, err
	}
	a, _ := res.([]any)
	if len(a) != 2 {
		return storage.PromoteResult{}, fmt.Errorf("redisstore: promote: unexpected reply %v", res)
	}
	n, _ := a[0].(int64)
	next, _ := a[1].(string)
	return storage.PromoteResult{Promoted: int(n), Next: fromMicros(next)}, nil
}

// ReclaimExpired implements [storage.Store].
func (s *Store) ReclaimExpired(ctx context.Context, p *storage.ReclaimParams) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	args, err := s.header(s.clock(p.Now), 0, 1)
	if err != nil {
		return 0, err
	}
	res, err := s.run(ctx, "reclaim", reclaimFunc, append(args, p.Limit))
	if err != nil {
		return 0, err
	}
	n, _ := res.(int64)
	return int(n), nil
}

// Get implements [storage.Store].
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	return s.get(ctx, id, true)
}

// Peek implements [storage.Peeker].
func (s *Store) Peek(ctx context.Context, id uuid.UUID) (*storage.Job, error) {
	return s.get(ctx, id, false)
}

func (s *Store) get(ctx context.Context, id uuid.UUID, withHistory bool) (*storage.Job, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.k.job(id)).Result()
	if err != nil {
		return nil, wrap("get", err)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("redisstore: job %s: %w", id, storage.ErrNotFound)
	}
	return jobOfHash(id, m, withHistory)
}

// jobOfHash decodes job id from its hash m.
func jobOfHash(id uuid.UUID, m map[string]string, withHistory bool) (*storage.Job, error) {
	kv := make([]string, 0, 2*len(m)+2)
	kv = append(kv, "id", id.String())
	for name, v := range m {
		kv = append(kv, name, v)
	}
	return decodeJob(kv, withHistory)
}
