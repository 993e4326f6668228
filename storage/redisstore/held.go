package redisstore

import (
	"context"
	"strconv"

	"github.com/taskflow-go/taskflow/storage"
)

var (
	_ storage.HeldCounter = (*Store)(nil)
	_ storage.HeldCounter = (*Sharded)(nil)
)

// CountHeld implements [storage.HeldCounter], in one call (lua/held.lua):
// it reads the counts and rate times of the limits and, only when one is
// full, counts the jobs held: a full queue limit by its ready set, a queue
// served by partition by a count per partition, and another queue, under
// a full task limit, by a read per Enqueued job (a queue is served by
// partition from the first fetch a limit held back, so that last case
// lasts until a worker fetches from it).
func (s *Store) CountHeld(ctx context.Context) (map[string]int64, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	res, err := s.run(ctx, "count held", heldFunc, []any{s.k.prefix, micros(s.now()), "0", "", "", "", ""})
	if err != nil {
		return nil, err
	}
	kv := pairs(res)
	out := make(map[string]int64, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		n, err := strconv.ParseInt(kv[i+1], 10, 64)
		if err != nil {
			return nil, wrap("count held", err)
		}
		out[kv[i]] = n
	}
	return out, nil
}

// CountHeld implements [storage.HeldCounter]: shard 0 holds every job a
// limit applies to.
func (s *Sharded) CountHeld(ctx context.Context) (map[string]int64, error) {
	return s.home.CountHeld(ctx)
}
