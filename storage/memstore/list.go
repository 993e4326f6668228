package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/taskflow-go/taskflow/states"
	"github.com/taskflow-go/taskflow/storage"
)

// listKey is a job's place in a list: ascending (a, b, id), or descending
// id for the lists by ID.
type listKey struct {
	a, b int64
	id   uuid.UUID
}

// keyOf returns r's place in the list of state st.
func keyOf(st states.Name, r *record) listKey {
	switch st {
	case states.NameEnqueued:
		return listKey{a: -int64(r.Priority), b: int64(r.qseq), id: r.ID}
	case states.NameScheduled:
		return listKey{a: r.RunAt.UnixNano(), id: r.ID}
	}
	return listKey{id: r.ID}
}

// compareKeys orders the list of state st.
func compareKeys(st states.Name, x, y listKey) int {
	if st != states.NameEnqueued && st != states.NameScheduled {
		return -compareID(x.id, y.id) // newest first
	}
	return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b), compareID(x.id, y.id))
}

func (k listKey) String() string { return fmt.Sprintf("%d.%d.%s", k.a, k.b, k.id) }

func parseKey(s string) (listKey, error) {
	parts := strings.Split(s, ".")
	var (
		k    listKey
		errs [3]error
	)
	if len(parts) != 3 {
		return k, fmt.Errorf("%w: %q", storage.ErrBadCursor, s)
	}
	k.a, errs[0] = strconv.ParseInt(parts[0], 10, 64)
	k.b, errs[1] = strconv.ParseInt(parts[1], 10, 64)
	k.id, errs[2] = uuid.Parse(parts[2])
	for _, err := range errs {
		if err != nil {
			return k, fmt.Errorf("%w: %q: %w", storage.ErrBadCursor, s, err)
		}
	}
	return k, nil
}

// List implements [storage.Lister], in the orders it gives, by sorting the
// jobs selected.
func (s *Store) List(ctx context.Context, p *storage.ListParams) ([]*storage.Job, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var after *listKey
	if p.Cursor != "" {
		k, err := parseKey(p.Cursor)
		if err != nil {
			return nil, err
		}
		after = &k
	}
	dir := 1
	if p.Backward {
		dir = -1
	}
	type keyed struct {
		k listKey
		j *storage.Job
	}
	var out []keyed
	s.mu.Lock()
	for _, r := range s.jobs {
		j := &r.Job
		if (p.State == "" || j.State == p.State) && (p.Queue == "" || j.Queue == p.Queue) &&
			(p.Task == "" || j.Task == p.Task) && (p.BatchID == uuid.Nil || j.BatchID == p.BatchID) &&
			(p.ParentID == uuid.Nil || j.ParentID == p.ParentID) {
			k := keyOf(p.State, r)
			if after == nil || dir*compareKeys(p.State, k, *after) > 0 {
				out = append(out, keyed{k, snapshot(j)})
			}
		}
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(x, y keyed) int { return dir * compareKeys(p.State, x.k, y.k) })
	out = out[min(max(p.Offset, 0), len(out)):]
	if p.Limit > 0 && len(out) > p.Limit {
		out = out[:p.Limit]
	}
	jobs := make([]*storage.Job, len(out))
	for i, x := range out {
		x.j.Cursor = x.k.String()
		jobs[i] = x.j
	}
	return jobs, nil
}
