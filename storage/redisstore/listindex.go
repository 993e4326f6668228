package redisstore

import (
	"context"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The lists of every state and of a parent's continuations read indexes
// sorted by ID a page at a time: the per-state indexes of each queue
// (s:<state>:<queue>), s:active:<queue> for its Enqueued and Processing
// jobs, whose ready set and the lease set are not in ID order, and
// c:<parent> for the continuations of a job or batch. The job library
// keeps them (ACTIVE and continues in lua/lib.lua). A store written
// before the last two gets its jobs filed in them lazily, by the first
// such list (indexed), which then marks the store (key ix) so that no
// later list does it again.

// indexScript files jobs in the indexes of lists (see lua/index.lua).
var indexScript = redis.NewScript(lua("index"))

// indexed makes sure that the indexes of lists hold every job of the
// store: unless the store is marked, it files every job, found by SCAN a
// page per command, a page per script. SCAN returns every key that exists
// from its start to its end; jobs created meanwhile are filed as they are
// created, and those removed meanwhile are passed over by the script, so
// that a walk that races writers, or other walks, leaves the indexes
// right.
func (s *Store) indexed(ctx context.Context) error {
	marked, err := s.rdb.Exists(ctx, s.k.listIndexed()).Result()
	if err != nil || marked == 1 {
		return err
	}
	node := redis.Cmdable(s.rdb)
	if cc, ok := s.rdb.(*redis.ClusterClient); ok { // SCAN reads one node: the store's
		if node, err = cc.MasterForKey(ctx, s.k.seq()); err != nil {
			return err
		}
	}
	prefix := s.k.prefix + "j:"
	match := globEscaper.Replace(prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := node.Scan(ctx, cursor, match, page).Result()
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			ids := make([]string, len(keys))
			for i, k := range keys {
				ids[i] = strings.TrimPrefix(k, prefix)
			}
			if err := indexScript.Run(ctx, s.rdb, []string{s.k.seq()}, s.scriptArgs(ids)...).Err(); err != nil {
				return err
			}
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	return s.rdb.Set(ctx, s.k.listIndexed(), "1", 0).Err()
}

// globEscaper escapes what SCAN's MATCH would read as a pattern.
var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

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
