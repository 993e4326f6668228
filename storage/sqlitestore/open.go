package sqlitestore

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/taskflow-go/taskflow/storage"
)

// The URL of a SQLite store is sqlite://PATH: "sqlite:///var/lib/app/jobs.db"
// for an absolute path, "sqlite://jobs.db" or "sqlite:jobs.db" for one
// relative to the working directory. Its query may set synchronous
// (NORMAL, FULL) and poll (a Go duration): sqlite:///data/jobs.db?synchronous=FULL.
func init() {
	storage.Register("sqlite", func(ctx context.Context, u string) (storage.OpenedStore, error) {
		path, opts, err := ParseURL(u)
		if err != nil {
			return nil, err
		}
		return Open(ctx, path, opts...)
	})
}

// ParseURL reads a sqlite: store URL into the path and options of [Open].
func ParseURL(u string) (string, []Option, error) {
	rest, ok := strings.CutPrefix(u, "sqlite:")
	if !ok {
		return "", nil, fmt.Errorf("sqlitestore: %q is not a sqlite: URL", u)
	}
	rest = strings.TrimPrefix(rest, "//")
	rawPath, rawQuery, _ := strings.Cut(rest, "?")
	path, err := url.PathUnescape(rawPath)
	if err != nil || path == "" {
		return "", nil, fmt.Errorf("sqlitestore: URL %q: want sqlite:///ABSOLUTE/PATH or sqlite://RELATIVE/PATH", u)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("sqlitestore: URL %q: %w", u, err)
	}
	var opts []Option
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "synchronous":
			opts = append(opts, WithSynchronous(strings.ToUpper(v)))
		case "poll":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return "", nil, fmt.Errorf("sqlitestore: URL %q: poll=%q: want a positive duration such as 5ms", u, v)
			}
			opts = append(opts, WithPollInterval(d))
		default:
			return "", nil, fmt.Errorf("sqlitestore: URL %q: unknown parameter %q (want synchronous or poll)", u, k)
		}
	}
	return path, opts, nil
}
