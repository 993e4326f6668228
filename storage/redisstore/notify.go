package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage"
)

// subscription is a store's one pub/sub connection, shared by every
// subscriber: the scripts publish the topics of each change, as a bit mask,
// on the store's wake channel.
type subscription struct {
	ps   *redis.PubSub
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
		channels := s.wakeChannels()
		ps := s.rdb.Subscribe(context.WithoutCancel(ctx), channels...)
		// Wait for the subscriptions, so that no change stored after
		// Subscribe returns goes unannounced.
		for range channels {
			if _, err := ps.Receive(ctx); err != nil {
				_ = ps.Close()
				return nil, wrap("subscribe", err)
			}
		}
		s.sub = &subscription{ps: ps, subs: map[chan struct{}]storage.Topic{}, done: make(chan struct{})}
		go s.listen(s.sub)
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
			_ = sub.ps.Close()
		}
	}()
	return ch, nil
}

// listen wakes the subscribers of sub until it is closed.
func (s *Store) listen(sub *subscription) {
	for {
		msg, err := sub.ps.Receive(context.Background())
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
