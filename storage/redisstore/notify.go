package redisstore

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage"
)

// wakes holds a store's subscription to its wake channels, while it has
// subscribers.
type wakes struct {
	mu  sync.Mutex
	sub *subscription
}

// subscription is a store's pub/sub connections, shared by every
// subscriber: the scripts publish the topics of each change, as a bit mask,
// on the store's wake channel (one per shard, see [Sharded.Subscribe]).
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
	return s.wakes.subscribe(ctx, s.rdb, [][]string{{s.k.wake()}}, topics)
}

// subscribe returns a channel woken by the wake-ups of topics published on
// the channels of groups, each group listened to on a connection of its
// own, until ctx ends.
func (w *wakes) subscribe(ctx context.Context, rdb redis.UniversalClient, groups [][]string, topics storage.Topic) (<-chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sub == nil {
		sub := &subscription{subs: map[chan struct{}]storage.Topic{}, done: make(chan struct{})}
		for _, channels := range groups {
			ps := rdb.Subscribe(context.WithoutCancel(ctx), channels...)
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
		w.sub = sub
		for _, ps := range sub.pss {
			go w.listen(sub, ps)
		}
	}
	sub := w.sub
	ch := make(chan struct{}, 1)
	sub.subs[ch] = topics
	go func() {
		<-ctx.Done()
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(sub.subs, ch)
		close(ch)
		if len(sub.subs) == 0 && w.sub == sub {
			w.sub = nil
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
func (w *wakes) listen(sub *subscription, ps *redis.PubSub) {
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
		w.mu.Lock()
		for ch, t := range sub.subs {
			if t&topics != 0 {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
		w.mu.Unlock()
	}
}
