package redisstore

import (
	"context"
	"fmt"
	"net/url"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage"
)

// The URL of a Redis store is a go-redis URL, redis:// or rediss:// (TLS),
// whose query may name the store (name=NAME, default [DefaultName]):
// redis://127.0.0.1:6379/0?name=app. Open checks that the server answers.
func init() {
	for _, scheme := range []string{"redis", "rediss"} {
		storage.Register(scheme, openURL)
	}
}

// owned is a store that owns its client.
type owned struct{ *Store }

// Close closes the store's client.
func (o owned) Close() error { return o.rdb.Close() }

func openURL(ctx context.Context, raw string) (storage.OpenedStore, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: bad URL: %w", err)
	}
	var opts []Option
	q := u.Query()
	if n := q.Get("name"); n != "" {
		opts = append(opts, Name(n))
		q.Del("name")
		u.RawQuery = q.Encode()
	}
	ro, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	client := redis.NewClient(ro)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redisstore: cannot reach the server at %s: %w", ro.Addr, err)
	}
	return owned{New(client, opts...)}, nil
}
