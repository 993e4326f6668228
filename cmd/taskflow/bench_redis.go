package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/taskflow-go/taskflow/storage/redisstore"
)

func redisAddrDefault() string {
	if a := os.Getenv("TASKFLOW_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// openRedis sets e.store to a Redis store, on a Redis Cluster when -redis
// lists several addresses, and returns what undoes it.
func (e *benchEnv) openRedis(ctx context.Context, stderr io.Writer) (func(), error) {
	addrs := strings.Split(e.cfg.redis, ",")
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1})
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("connect to Redis %s: %w", e.cfg.redis, err)
	}
	name, drop := e.cfg.schema, e.cfg.schema == "" && !e.cfg.keep
	if name == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name = "bench_" + hex.EncodeToString(b)
	}
	fmt.Fprintf(stderr, "using Redis store %s (%d shards) at %s\n", name, e.cfg.shards, e.cfg.redis)
	e.store = redisstore.New(client, redisstore.Name(name))
	if e.cfg.shards > 1 {
		e.store = redisstore.NewSharded(client, e.cfg.shards, redisstore.Name(name))
	}
	// Memory, CPU and the keys are those of every master: a store of one
	// shard lives on one of them, the others idle.
	masters := []redis.Cmdable{client}
	if cc, ok := client.(*redis.ClusterClient); ok {
		masters = nil
		var mu sync.Mutex
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			masters = append(masters, c)
			return nil
		})
		if err != nil {
			_ = client.Close()
			return nil, err
		}
	}
	each := func(ctx context.Context, f func(c redis.Cmdable) (float64, error)) ([]float64, error) {
		out := make([]float64, len(masters))
		for i, c := range masters {
			v, err := f(c)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	e.redisMemory = func(ctx context.Context) (int64, error) {
		vs, err := each(ctx, func(c redis.Cmdable) (float64, error) {
			v, err := infoField(ctx, c, "memory", "used_memory")
			if err != nil {
				return 0, err
			}
			return strconv.ParseFloat(v, 64)
		})
		var total float64
		for _, v := range vs {
			total += v
		}
		return int64(total), err
	}
	e.redisCPU = func(ctx context.Context) ([]time.Duration, error) {
		vs, err := each(ctx, func(c redis.Cmdable) (float64, error) {
			var total float64
			for _, f := range []string{"used_cpu_sys", "used_cpu_user"} {
				v, err := infoField(ctx, c, "cpu", f)
				if err != nil {
					return 0, err
				}
				s, err := strconv.ParseFloat(v, 64)
				if err != nil {
					return 0, fmt.Errorf("redis INFO cpu %s: %w", f, err)
				}
				total += s
			}
			return total, nil
		})
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v * float64(time.Second))
		}
		return out, err
	}
	return func() {
		if drop {
			c, cancel := context.WithTimeout(context.Background(), time.Minute)
			for _, m := range masters { // the keys of every shard: "{name}:…", "{name:k}:…"
				if err := deleteRedisKeys(c, m, "{"+name+"[}:]*"); err != nil {
					fmt.Fprintf(stderr, "delete Redis store %s: %v\n", name, err)
				}
			}
			cancel()
		} else {
			fmt.Fprintf(stderr, "kept Redis store %s\n", name)
		}
		_ = client.Close()
	}, nil
}

// infoField reads field from section of INFO.
func infoField(ctx context.Context, c redis.Cmdable, section, field string) (string, error) {
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return "", fmt.Errorf("redis INFO %s: %w", section, err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("redis INFO %s: no %s", section, field)
}

// deleteRedisKeys deletes the keys that match pattern.
func deleteRedisKeys(ctx context.Context, c redis.Cmdable, pattern string) error {
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := c.Del(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Del(ctx, batch...).Err()
	}
	return nil
}
