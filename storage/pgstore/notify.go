package pgstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

// Subscribe implements [storage.Notifier]. Every subscriber of a store, and
// of the stores [Store.WithTx] derives from it, shares one dedicated
// connection, outside the pool, that LISTENs while at least one
// subscription is open, and for listenLinger after the last: a thousand waiting handles and a worker's loops
// cost one connection, not one each. Each subscription gets the
// notifications of its topics until its ctx is done. When the connection
// breaks it reconnects with backoff and wakes every subscriber once, since
// notifications may have been missed meanwhile. With WithNotify(false) it
// returns [storage.ErrNotSupported].
func (s *Store) Subscribe(ctx context.Context, topics storage.Topic) (<-chan struct{}, error) {
	if !s.cfg.notify {
		return nil, fmt.Errorf("pgstore: subscribe: notifications are off: %w", storage.ErrNotSupported)
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ch := make(chan struct{}, 1)
	if err := s.listener.add(ctx, s.shared, ch, topics); err != nil {
		return nil, interpretError("subscribe", err)
	}
	context.AfterFunc(ctx, func() { s.listener.remove(ch) })
	return ch, nil
}

// listener is the LISTEN connection a store's subscribers share, and the
// subscriptions it serves.
type listener struct {
	mu    sync.Mutex
	subs  map[chan struct{}]storage.Topic
	stop  context.CancelFunc // stops the running loop; nil when none runs
	idles int                // counts the times no subscription was left, so that a stale timer does nothing
}

// listenLinger is how long the connection stays open once no subscription
// is left: a process whose handles wait one after the other (a request
// each, say) dials once, not once per wait.
const listenLinger = 5 * time.Second

// add subscribes ch to topics. The first subscription dials and LISTENs
// before it returns, so that an unreachable server fails the call.
func (l *listener) add(ctx context.Context, s *shared, ch chan struct{}, topics storage.Topic) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop == nil {
		conn, err := s.listen(ctx)
		if err != nil {
			return err
		}
		loopCtx, cancel := context.WithCancel(context.Background())
		l.stop = cancel
		go s.listenLoop(loopCtx, conn)
	}
	if l.subs == nil {
		l.subs = map[chan struct{}]storage.Topic{}
	}
	l.subs[ch] = topics
	return nil
}

// remove ends the subscription of ch and closes it. When the last one
// goes, the connection is closed listenLinger later, unless another
// subscription comes meanwhile.
func (l *listener) remove(ch chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.subs, ch)
	close(ch)
	if len(l.subs) > 0 || l.stop == nil {
		return
	}
	l.idles++
	idles := l.idles
	time.AfterFunc(listenLinger, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.idles == idles && len(l.subs) == 0 && l.stop != nil {
			l.stop()
			l.stop = nil
		}
	})
}

// notify wakes the subscribers to any of topics.
func (l *listener) notify(topics storage.Topic) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ch, t := range l.subs {
		if t&topics != 0 {
			signal(ch)
		}
	}
}

// listen opens a connection configured like the pool's and LISTENs on it.
func (s *shared) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// listenLoop passes the notifications received on conn to the subscribers,
// reconnecting when it breaks, until ctx is done.
func (s *shared) listenLoop(ctx context.Context, conn *pgx.Conn) {
	const minBackoff, maxBackoff = 50 * time.Millisecond, time.Second // back within about a second of an outage
	backoff := minBackoff
	for {
		if n, err := conn.WaitForNotification(ctx); err == nil {
			s.listener.notify(topicsOf(n.Payload))
			continue
		}
		closeConn(conn)
		for {
			if ctx.Err() != nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			var err error
			if conn, err = s.listen(ctx); err == nil {
				break
			}
			backoff = min(2*backoff, maxBackoff)
		}
		backoff = minBackoff
		s.listener.notify(storage.TopicAll)
	}
}

// signal sends a wake-up unless one is already pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
