package pgstore

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/taskflow-go/taskflow/storage"
)

// The URL of a PostgreSQL store is a pgx connection URL, postgres:// or
// postgresql://, whose query may name the schema (schema=NAME, default
// "taskflow"). The schema must be migrated ([Migrate], `taskflow migrate
// up`); Open checks that the database answers.
func init() {
	for _, scheme := range []string{"postgres", "postgresql"} {
		storage.Register(scheme, openURL)
	}
}

// pooled is a store that owns its pool.
type pooled struct{ *Store }

// Close closes the store's pool.
func (p pooled) Close() error {
	p.pool.Close()
	return nil
}

func openURL(ctx context.Context, raw string) (storage.OpenedStore, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("pgstore: bad URL: %w", err)
	}
	var opts []Option
	q := u.Query()
	if s := q.Get("schema"); s != "" {
		opts = append(opts, Schema(s))
		q.Del("schema")
		u.RawQuery = q.Encode()
	}
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: cannot reach the database at %s: %w", u.Host, err)
	}
	return pooled{New(pool, opts...)}, nil
}
