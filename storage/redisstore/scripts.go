package redisstore

import (
	"embed"

	"github.com/redis/go-redis/v9"
)

// The Lua scripts, one per operation, each documented at its top (KEYS,
// ARGV and what it returns). Those that change jobs are lua/lib.lua
// followed by their own body, so that every change to jobs, and every batch
// of changes, is one atomic script call.
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

func withLib(name string) *redis.Script { return redis.NewScript(lua("lib") + "\n" + lua(name)) }

var (
	createScript     = withLib("create")
	fetchScript      = withLib("fetch")
	transitionScript = withLib("transition")
	extendScript     = withLib("extend")
	promoteScript    = withLib("promote")
	reclaimScript    = withLib("reclaim")
	deadScript       = withLib("dead")
	pruneScript      = withLib("prune")
	fireScript       = withLib("fire")
	upsertScript     = redis.NewScript(lua("upsert"))
	pauseScript      = redis.NewScript(lua("pause"))
	lockScript       = redis.NewScript(lua("lock"))
	unlockScript     = redis.NewScript(lua("unlock"))
	logsScript       = redis.NewScript(lua("logs"))
	listScript       = redis.NewScript(lua("list"))
	countScript      = redis.NewScript(lua("count"))
	queuesScript     = redis.NewScript(lua("queues"))
	batchScript      = redis.NewScript(lua("batch"))
)
