package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

var _ storage.FlowControl = (*Store)(nil)

// Flow control keys (see lua/limitlib.lua for the rest of the layout).
func (k keys) limits() string { return k.prefix + "lim" }

// limitValue encodes l as the limit hash holds it: "concurrency rate
// period(ns) burst interval(µs)"; the scripts read the interval, as a
// decimal number of microseconds.
func limitValue(l storage.Limit) string {
	iv := strconv.FormatFloat(float64(l.Interval())/1e3, 'f', 3, 64)
	return fmt.Sprintf("%d %d %d %d %s", l.Concurrency, l.Rate, int64(l.Period), l.Burst, iv)
}

// parseLimit decodes a limit of key, valued v (see limitValue).
func parseLimit(key, v string) (storage.Limit, error) {
	scope, name, _ := strings.Cut(key, ":")
	l := storage.Limit{Scope: storage.LimitScope(scope), Name: name}
	var period int64
	var iv float64
	if _, err := fmt.Sscanf(v, "%d %d %d %d %g", &l.Concurrency, &l.Rate, &period, &l.Burst, &iv); err != nil {
		return l, fmt.Errorf("redisstore: limit %s: %q: %w", key, v, err)
	}
	l.Period = time.Duration(period)
	return l, nil
}

// SetLimits implements [storage.FlowControl]. It stores the limits and
// counts the jobs running under them again, in one atomic step. On a
// sharded store limits live on shard 0, with the jobs they apply to (see
// the package documentation).
func (s *Store) SetLimits(ctx context.Context, limits []storage.Limit) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := storage.ValidateLimits(limits); err != nil {
		return err
	}
	args := []any{s.k.prefix, micros(s.now()), "0", "", "", "", "", len(limits)}
	for _, l := range limits {
		v := ""
		if !l.IsZero() {
			v = limitValue(l)
		}
		args = append(args, l.Key(), v)
	}
	_, err := s.run(ctx, "set limits", setLimitsFunc, args)
	return err
}

// Limits implements [storage.FlowControl].
func (s *Store) Limits(ctx context.Context) ([]storage.Limit, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.k.limits()).Result()
	if err != nil {
		return nil, wrap("limits", err)
	}
	return limitsOf(pairsOfMap(m))
}

func pairsOfMap(m map[string]string) []string {
	out := make([]string, 0, 2*len(m))
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// limitsOf decodes a limit hash given as name/value pairs, ordered by key.
func limitsOf(kv []string) ([]storage.Limit, error) {
	var out []storage.Limit
	for i := 0; i+1 < len(kv); i += 2 {
		l, err := parseLimit(kv[i], kv[i+1])
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b storage.Limit) int { return cmp.Compare(a.Key(), b.Key()) })
	return out, nil
}

// LimitUsage implements [storage.FlowControl]. It reads every Processing
// job, and the Enqueued jobs of the queues not served by partition: a
// monitoring call, not one for a hot path.
func (s *Store) LimitUsage(ctx context.Context) ([]storage.LimitUsage, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	res, err := s.run(ctx, "limit usage", usageFunc, []any{s.k.prefix, micros(s.now()), "0", "", "", "", ""})
	if err != nil {
		return nil, err
	}
	parts, _ := res.([]any)
	if len(parts) != 3 {
		return nil, fmt.Errorf("redisstore: limit usage: unexpected reply %v", res)
	}
	limits, err := limitsOf(pairs(parts[0]))
	if err != nil || len(limits) == 0 {
		return nil, err
	}
	byKey := map[string]storage.Limit{}
	use := map[[2]string]*storage.LimitUsage{}
	for _, l := range limits {
		byKey[l.Key()] = l
		if l.Scope != storage.ScopePartition {
			use[[2]string{l.Key(), ""}] = &storage.LimitUsage{Limit: l}
		}
	}
	counts := pairs(parts[2])
	for i := 0; i+4 < len(counts); i += 5 {
		q, t, pk := counts[i], counts[i+1], counts[i+2]
		run, _ := strconv.ParseInt(counts[i+3], 10, 64)
		wait, _ := strconv.ParseInt(counts[i+4], 10, 64)
		for _, c := range [][2]string{{"queue:" + q, ""}, {"task:" + t, ""}, {"partition:" + t, pk}} {
			l, ok := byKey[c[0]]
			if !ok {
				continue
			}
			u := use[c]
			if u == nil {
				u = &storage.LimitUsage{Limit: l, Partition: c[1]}
				use[c] = u
			}
			u.Running += run
			u.Waiting += wait
		}
	}
	tats := pairs(parts[1])
	tat := make(map[string]string, len(tats)/2)
	for i := 0; i+1 < len(tats); i += 2 {
		tat[tats[i]] = tats[i+1]
	}
	now := s.now()
	out := make([]storage.LimitUsage, 0, len(use))
	for c, u := range use {
		if u.Limit.Rate > 0 {
			counter := c[0]
			if u.Limit.Scope == storage.ScopePartition {
				counter += sep + c[1]
			}
			if us, err := strconv.ParseFloat(tat[counter], 64); err == nil {
				if next := time.UnixMicro(int64(us)).Add(-time.Duration(u.Limit.Burst) * u.Limit.Interval()); next.After(now) {
					u.NextStart = next.UTC()
				}
			}
		}
		out = append(out, *u)
	}
	slices.SortFunc(out, func(a, b storage.LimitUsage) int {
		return cmp.Or(cmp.Compare(a.Limit.Key(), b.Limit.Key()), cmp.Compare(a.Partition, b.Partition))
	})
	return out, nil
}
