package redisstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage"
)

// The URL of a Redis store is a go-redis URL: redis:// or rediss:// (TLS)
// for a server, as [redis.ParseURL] reads it, and redis+cluster:// or
// rediss+cluster:// for a Redis Cluster, as [redis.ParseClusterURL] reads
// it after the "+cluster", its other nodes in addr parameters (any node
// will do: the client finds the others). Its query may name the store
// (name=NAME, default [DefaultName]) and spread it over shards (shards=N,
// see [NewSharded]; the count is part of the store's layout, so every URL of a
// store must give the same):
//
//	redis://127.0.0.1:6379/0?name=app
//	redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000&shards=3
//
// Open checks that the server, or every master of the cluster, answers.
func init() {
	for _, scheme := range []string{"redis", "rediss", "redis+cluster", "rediss+cluster"} {
		storage.Register(scheme, openURL)
	}
}

// owned is a store that owns its client.
type owned struct{ *Store }

// Close closes the store's client.
func (o owned) Close() error { return o.rdb.Close() }

// ownedSharded is a sharded store that owns its client.
type ownedSharded struct{ *Sharded }

// Close closes the store's client.
func (o ownedSharded) Close() error { return o.home.rdb.Close() }

func openURL(ctx context.Context, raw string) (storage.OpenedStore, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redisstore: bad URL: %w", err)
	}
	var opts []Option
	q := u.Query()
	if n := q.Get("name"); n != "" {
		opts = append(opts, Name(n))
	}
	shards := 0 // not sharded
	if v := q.Get("shards"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%w %q: want a number", ErrInvalidShards, v)
		}
		if n < 1 || n > MaxShards {
			return nil, fmt.Errorf("%w %d: want 1 to %d", ErrInvalidShards, n, MaxShards)
		}
		shards = n
	}
	var probe Store // the options' errors, before connecting
	for _, o := range opts {
		o(&probe)
	}
	if probe.err != nil {
		return nil, probe.err
	}
	q.Del("name")
	q.Del("shards")
	u.RawQuery = q.Encode()
	scheme, cluster := strings.CutSuffix(strings.ToLower(u.Scheme), "+cluster")
	u.Scheme = scheme
	var client redis.UniversalClient
	if cluster {
		co, err := redis.ParseClusterURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		cc := redis.NewClusterClient(co)
		client = cc
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
		if err != nil {
			cc.Close()
			return nil, fmt.Errorf("redisstore: cannot reach the cluster at %s: %w", strings.Join(co.Addrs, ", "), err)
		}
	} else {
		ro, err := redis.ParseURL(u.String())
		if err != nil {
			return nil, fmt.Errorf("redisstore: %w", err)
		}
		client = redis.NewClient(ro)
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("redisstore: cannot reach the server at %s: %w", ro.Addr, err)
		}
	}
	if shards > 0 {
		return ownedSharded{NewSharded(client, shards, opts...)}, nil
	}
	return owned{New(client, opts...)}, nil
}
