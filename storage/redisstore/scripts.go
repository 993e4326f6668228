package redisstore

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua code, one file per operation, each documented at its top (KEYS,
// ARGV and what it returns). The operations that change jobs share
// lua/lib.lua: they are the functions of one Redis function library (Redis
// 7, FUNCTION LOAD), lua/lib.lua followed by one function per operation,
// loaded once per server rather than set up again by every call as a
// script that carries the shared code would be. The other operations are
// scripts (EVALSHA). Either way every change to jobs, and every batch of
// changes, is one atomic call.
//
//go:embed lua/*.lua
var luaFiles embed.FS

func lua(name string) string {
	b, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return string(b)
}

// jobFunc is a function of the job library: its name is FCALL's.
type jobFunc string

// The job library's source, and its functions. Names carry a digest of
// the source, so that processes running different versions of taskflow
// against one Redis each call their own.
var (
	jobLibrary, jobFuncPrefix = library("create", "fetch", "transition", "extend", "promote", "reclaim", "dead", "prune", "fire",
		"setlimits", "usage", "held")

	createFunc     = jobFunc(jobFuncPrefix + "create")
	fetchFunc      = jobFunc(jobFuncPrefix + "fetch")
	transitionFunc = jobFunc(jobFuncPrefix + "transition")
	extendFunc     = jobFunc(jobFuncPrefix + "extend")
	promoteFunc    = jobFunc(jobFuncPrefix + "promote")
	reclaimFunc    = jobFunc(jobFuncPrefix + "reclaim")
	deadFunc       = jobFunc(jobFuncPrefix + "dead")
	pruneFunc      = jobFunc(jobFuncPrefix + "prune")
	fireFunc       = jobFunc(jobFuncPrefix + "fire")
	setLimitsFunc  = jobFunc(jobFuncPrefix + "setlimits")
	usageFunc      = jobFunc(jobFuncPrefix + "usage")
	heldFunc       = jobFunc(jobFuncPrefix + "held")
)

// library returns the source of the library of lua/lib.lua (after the
// table of data tokens, luaDataTokens), lua/limitlib.lua and the named
// operations, and the prefix of its function names.
func library(ops ...string) (src, prefix string) {
	var body strings.Builder
	body.WriteString(luaDataTokens())
	body.WriteString(lua("lib"))
	body.WriteString(lua("limitlib"))
	for _, op := range ops {
		body.WriteString("\nredis.register_function('\x00" + op + "', function(keys, args)\nsetup(keys, args)\n")
		body.WriteString(lua(op))
		body.WriteString("\nend)\n")
	}
	sum := sha1.Sum([]byte(body.String()))
	name := "taskflow_" + hex.EncodeToString(sum[:6])
	prefix = name + "_"
	return "#!lua name=" + name + "\n" + strings.ReplaceAll(body.String(), "\x00", prefix), prefix
}

var (
	upsertScript = redis.NewScript(lua("upsert"))
	pauseScript  = redis.NewScript(lua("pause"))
	lockScript   = redis.NewScript(lua("lock"))
	unlockScript = redis.NewScript(lua("unlock"))
	logsScript   = redis.NewScript(lua("logs"))
	pageScript   = redis.NewScript(lua("page"))
	countScript  = redis.NewScript(lua("count"))
	fieldsScript = redis.NewScript(lua("fields"))
	queuesScript = redis.NewScript(lua("queues"))
)

// call calls job function f with keys and args. A server without the
// library (new, restarted without persistence, or a new cluster master)
// gets it loaded and the call is made again, as go-redis does for scripts.
func (f jobFunc) call(ctx context.Context, rdb redis.UniversalClient, keys []string, args ...any) *redis.Cmd {
	cmd := rdb.FCall(ctx, string(f), keys, args...)
	if err := cmd.Err(); err == nil || !strings.Contains(err.Error(), "Function not found") {
		return cmd
	}
	if err := loadLibrary(ctx, rdb); err != nil {
		c := redis.NewCmd(ctx)
		c.SetErr(err)
		return c
	}
	return rdb.FCall(ctx, string(f), keys, args...)
}

// loadLibrary loads the job library on the server, or on every master of a
// cluster.
func loadLibrary(ctx context.Context, rdb redis.UniversalClient) error {
	load := func(ctx context.Context, c redis.Cmdable) error {
		err := c.FunctionLoad(ctx, jobLibrary).Err()
		if err != nil && strings.Contains(err.Error(), "already exists") {
			return nil // loaded by another call meanwhile
		}
		return err
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return load(ctx, c) })
	}
	return load(ctx, rdb)
}
