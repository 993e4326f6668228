package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/taskflow-go/taskflow/storage"
)

// Subscribe implements [storage.Notifier]. Each call holds one dedicated
// connection, outside the pool, that LISTENs until ctx is done and passes
// on the notifications of topics. When that connection breaks it
// reconnects with backoff and sends one wake-up, since notifications may
// have been missed meanwhile. With WithNotify(false) it returns
// [storage.ErrNotSupported].
func (s *Store) Subscribe(ctx context.Context, topics storage.Topic) (<-chan struct{}, error) {
	if !s.cfg.notify {
		return nil, fmt.Errorf("pgstore: subscribe: notifications are off: %w", storage.ErrNotSupported)
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	conn, err := s.listen(ctx)
	if err != nil {
		return nil, interpretError("subscribe", err)
	}
	ch := make(chan struct{}, 1)
	go s.listenLoop(ctx, conn, topics, ch)
	return ch, nil
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

// listenLoop forwards the notifications of topics to ch, coalesced, until
// ctx is done.
func (s *shared) listenLoop(ctx context.Context, conn *pgx.Conn, topics storage.Topic, ch chan struct{}) {
	defer close(ch)
	const minBackoff, maxBackoff = 50 * time.Millisecond, 5 * time.Second
	backoff := minBackoff
	for {
		if n, err := conn.WaitForNotification(ctx); err == nil {
			if topicsOf(n.Payload)&topics != 0 {
				signal(ch)
			}
			continue
		}
		closeConn(conn)
		for {
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
		signal(ch)
	}
}

// signal sends a wake-up unless one is already pending.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
