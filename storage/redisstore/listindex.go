package redisstore

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// The lists of every state and of a parent's continuations read indexes
// of their own, sorted by ID a page at a time: a:<queue> holds every job
// of the queue, c:<parent> the continuations of a job or batch. The job
// library keeps them (indexJob in lua/lib.lua) as jobs are created, move
// to another queue and are removed. A store written before them gets its
// jobs filed in them lazily, by the first such list (indexed), which then
// marks the store (key ix) so that no later list does it again.

// indexScript files jobs in the indexes of lists (see lua/index.lua).
var indexScript = redis.NewScript(lua("index"))

// indexed makes sure that the indexes of lists hold every job of the
// store: unless the store is marked, it walks every job, from the indexes
// of their states, a page per command, and files them, a page per script.
// Jobs created meanwhile are filed as they are created, and those removed
// meanwhile are passed over, so that a walk that races others, or
// changes, leaves the indexes right.
func (s *Store) indexed(ctx context.Context) error {
	marked, err := s.rdb.Exists(ctx, s.k.listIndexed()).Result()
	if err != nil || marked == 1 {
		return err
	}
	file := func(ids []string) error {
		return inPages(ids, func(ids []string) error {
			return indexScript.Run(ctx, s.rdb, []string{s.k.seq()}, s.scriptArgs(ids)...).Err()
		})
	}
	queues, err := s.queueNames(ctx, true)
	if err != nil {
		return err
	}
	if err := s.eachRanked(ctx, s.k.prefix+"lease", file); err != nil {
		return err
	}
	for _, q := range queues {
		err := s.eachRanked(ctx, s.k.prefix+"q:"+q, func(members []string) error {
			ids := make([]string, len(members))
			for i, m := range members {
				ids[i] = readyID(m)
			}
			return file(ids)
		})
		if err != nil {
			return err
		}
		for _, st := range indexedStates {
			if err := s.eachRanked(ctx, s.k.prefix+"s:"+string(st)+":"+q, file); err != nil {
				return err
			}
		}
	}
	return s.rdb.Set(ctx, s.k.listIndexed(), "1", 0).Err()
}

// leasedQueues returns queues with the queues of the Processing jobs
// added, reading the lease set a page per command.
func (s *Store) leasedQueues(ctx context.Context, queues []string) ([]string, error) {
	seen := make(map[string]bool, len(queues))
	for _, q := range queues {
		seen[q] = true
	}
	err := s.eachRanked(ctx, s.k.prefix+"lease", func(ids []string) error {
		got, err := s.fieldOf(ctx, ids, "q")
		for _, q := range got {
			if q != "" && !seen[q] { // "": gone meanwhile
				seen[q] = true
				queues = append(queues, q)
			}
		}
		return err
	})
	return queues, err
}

// listIndexed is the key that marks a store whose indexes of lists hold
// every job.
func (k keys) listIndexed() string { return k.prefix + "ix" }
