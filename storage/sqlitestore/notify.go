package sqlitestore

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// subscribers are a store's subscriptions, and the poller that watches the
// file for changes of other processes while there are any.
type subscribers struct {
	mu      sync.Mutex
	subs    map[chan struct{}]storage.Topic
	polling bool
	closed  bool
}

// Subscribe implements [storage.Notifier]. Changes made through this store
// wake subscribers as soon as they commit; changes of other processes (or
// other stores on the file) once the poller sees them, within the poll
// interval (see [WithPollInterval]).
func (s *Store) Subscribe(ctx context.Context, topics storage.Topic) (<-chan struct{}, error) {
	ch := make(chan struct{}, 1)
	b := &s.subs
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if b.subs == nil {
		b.subs = map[chan struct{}]storage.Topic{}
	}
	b.subs[ch] = topics
	start := !b.polling
	b.polling = true
	b.mu.Unlock()
	if start {
		// The poller's first reading is taken before Subscribe returns, so
		// that no change committed after it goes unseen.
		w := &watch{}
		w.read(ctx, s.readDB)
		go s.poll(w)
	}
	go func() {
		select {
		case <-ctx.Done():
		case <-s.stop:
		}
		b.mu.Lock()
		if _, ok := b.subs[ch]; ok {
			delete(b.subs, ch)
			close(ch)
		}
		b.mu.Unlock()
	}()
	return ch, nil
}

// wake wakes the subscribers to any of topics.
func (b *subscribers) wake(topics storage.Topic) {
	if topics == 0 {
		return
	}
	b.mu.Lock()
	for ch, t := range b.subs {
		if t&topics != 0 {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	b.mu.Unlock()
}

func (b *subscribers) closeAll() {
	b.mu.Lock()
	b.closed = true
	for ch := range b.subs {
		delete(b.subs, ch)
		close(ch)
	}
	b.mu.Unlock()
}

// topicCounts are the counters of table topics.
type topicCounts [4]int64

var topicOrder = [4]storage.Topic{storage.TopicEnqueued, storage.TopicScheduled, storage.TopicRecurring, storage.TopicFinished}

// watch is the poller's view of the file: its connection, and the data
// version and topic counters it read last.
type watch struct {
	conn    *sql.Conn
	version int64
	counts  topicCounts
	primed  bool
}

// read reads the file's data version and, when it changed, the topic
// counters; it returns the topics whose counters moved since the last read.
func (w *watch) read(ctx context.Context, db *sql.DB) storage.Topic {
	fail := func() storage.Topic {
		if w.conn != nil {
			w.conn.Close()
		}
		w.conn, w.primed = nil, false
		return 0
	}
	if w.conn == nil {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fail()
		}
		w.conn = conn
	}
	var v int64
	if err := w.conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v); err != nil {
		return fail()
	}
	if w.primed && v == w.version {
		return 0
	}
	var c topicCounts
	if err := w.conn.QueryRowContext(ctx, "SELECT enqueued, scheduled, recurring, finished FROM topics WHERE id = 1").
		Scan(&c[0], &c[1], &c[2], &c[3]); err != nil {
		return fail()
	}
	var moved storage.Topic
	for i := range c {
		if !w.primed || c[i] != w.counts[i] {
			moved |= topicOrder[i]
		}
	}
	if !w.primed {
		moved = 0
		if w.version != 0 {
			moved = storage.TopicAll // reconnected: changes may have been missed
		}
	}
	w.version, w.counts, w.primed = v, c, true
	return moved
}

// poll watches the file while the store has subscribers: every poll
// interval it reads PRAGMA data_version, which changes when another
// connection commits, and then the topic counters, waking the subscribers
// of the topics whose counter moved. Its own store's commits move them too;
// the extra wake-up they cause is coalesced with the one already sent.
func (s *Store) poll(w *watch) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer func() {
		if w.conn != nil {
			w.conn.Close()
		}
	}()
	t := time.NewTicker(s.cfg.poll)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		s.subs.mu.Lock()
		if len(s.subs.subs) == 0 {
			s.subs.polling = false
			s.subs.mu.Unlock()
			return
		}
		s.subs.mu.Unlock()
		s.subs.wake(w.read(ctx, s.readDB))
	}
}
