package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage"
)

// subscription is a store's pub/sub connection, shared by every
// subscriber: the scripts publish the topics of each change, as a bit mask,
// on the store's wake channel. A store of several shards on Redis Cluster
// has one connection per shard, to the master that publishes its wake-ups
// (the others' reach a node only through the cluster bus, later).
type subscription struct {
	pss  []*redis.PubSub
	subs map[chan struct{}]storage.Topic
	done chan struct{}
}

// Subscribe implements [storage.Notifier] with Redis pub/sub. Wake-ups
// published while the connection is down are lost, so every subscriber is
// woken once the connection is back.
func (s *Store) Subscribe(ctx context.Context, topics storage.Topic) (<-chan struct{}, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.sub == nil {
		groups := [][]string{s.wakeChannels()}
		if _, ok := s.rdb.(*redis.ClusterClient); ok && len(groups[0]) > 1 {
			groups = nil
			for _, ch := range s.wakeChannels() {
				groups = append(groups, []string{ch})
			}
		}
		sub := &subscription{subs: map[chan struct{}]storage.Topic{}, done: make(chan struct{})}
		for _, channels := range groups {
			ps := s.rdb.Subscribe(context.WithoutCancel(ctx), channels...)
			sub.pss = append(sub.pss, ps)
			// Wait for the subscriptions, so that no change stored after
			// Subscribe returns goes unannounced.
			for range channels {
				if _, err := ps.Receive(ctx); err != nil {
					for _, ps := range sub.pss {
						_ = ps.Close()
					}
					return nil, wrap("subscribe", err)
				}
			}
		}
		s.sub = sub
		for _, ps := range sub.pss {
			go s.listen(sub, ps)
		}
	}
	sub := s.sub
	ch := make(chan struct{}, 1)
	sub.subs[ch] = topics
	go func() {
		<-ctx.Done()
		s.subMu.Lock()
		defer s.subMu.Unlock()
		delete(sub.subs, ch)
		close(ch)
		if len(sub.subs) == 0 && s.sub == sub {
			s.sub = nil
			close(sub.done)
			for _, ps := range sub.pss {
				_ = ps.Close()
			}
		}
	}()
	return ch, nil
}

// listen wakes the subscribers of sub with what ps receives until sub is
// closed.
func (s *Store) listen(sub *subscription, ps *redis.PubSub) {
	for {
		msg, err := ps.Receive(context.Background())
		select {
		case <-sub.done:
			return
		default:
		}
		var topics storage.Topic
		switch m := msg.(type) {
		case *redis.Message:
			n, perr := strconv.Atoi(m.Payload)
			if perr != nil {
				continue
			}
			topics = storage.Topic(n)
		case *redis.Subscription: // subscribed again after a reconnection
			topics = storage.TopicAll
		default:
			if errors.Is(err, redis.ErrClosed) {
				return // the caller closed the client: subscribers get no more wake-ups, workers poll
			}
			if err != nil {
				time.Sleep(100 * time.Millisecond) // go-redis reconnects on the next Receive
			}
			continue
		}
		s.subMu.Lock()
		for ch, t := range sub.subs {
			if t&topics != 0 {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
		s.subMu.Unlock()
	}
}

// wakeChannels returns the wake channels of the store: one per shard.
func (s *Store) wakeChannels() []string {
	if s.shards == nil {
		return []string{s.k.wake()}
	}
	out := make([]string, len(s.shards))
	for i, sh := range s.shards {
		out[i] = sh.k.wake()
	}
	return out
}
