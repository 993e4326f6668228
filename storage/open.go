package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
)

// OpenedStore is a store opened from a URL by [Open]. It owns its
// connections (or file): Close releases them.
type OpenedStore interface {
	Store
	io.Closer
}

// OpenFunc opens a store from a URL of the scheme it was registered for.
type OpenFunc func(ctx context.Context, url string) (OpenedStore, error)

// ErrUnknownScheme means no backend registered the scheme of a store URL:
// the backend's package was not imported, or the URL is wrong.
var ErrUnknownScheme = errors.New("storage: unknown store URL scheme")

var (
	openersMu sync.RWMutex
	openers   = map[string]OpenFunc{}
)

// Register makes a backend's stores available to [Open] under scheme (as
// "sqlite" for "sqlite:///path"), as database/sql drivers register:
// backends call it in an init function, so that importing the backend's
// package is enough. It panics when scheme is registered twice.
func Register(scheme string, open OpenFunc) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[scheme]; dup {
		panic("storage: Register called twice for scheme " + scheme)
	}
	openers[scheme] = open
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	openersMu.RLock()
	defer openersMu.RUnlock()
	return slices.Sorted(maps.Keys(openers))
}

// backends names the package that registers each scheme taskflow ships,
// for the error that says which one to import.
var backends = map[string]string{
	"memory":         "storage/memstore",
	"sqlite":         "storage/sqlitestore",
	"postgres":       "storage/pgstore",
	"postgresql":     "storage/pgstore",
	"redis":          "storage/redisstore",
	"rediss":         "storage/redisstore",
	"redis+cluster":  "storage/redisstore",
	"rediss+cluster": "storage/redisstore",
}

// Open opens the store that url names, through the backend registered for
// its scheme: "memory:", "sqlite:///var/lib/app/jobs.db",
// "postgres://user@host/db", "redis://host:6379/0", ... (each backend's
// package documents its URL). The backend's package must be imported,
// blank if need be:
//
//	import _ "github.com/taskflow-go/taskflow/storage/sqlitestore"
func Open(ctx context.Context, url string) (OpenedStore, error) {
	scheme, _, ok := strings.Cut(url, ":")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: %q has no scheme; want one of memory:, sqlite:///PATH, postgres://HOST/DB and redis://HOST", ErrUnknownScheme, url)
	}
	scheme = strings.ToLower(scheme)
	openersMu.RLock()
	open := openers[scheme]
	openersMu.RUnlock()
	if open == nil {
		if pkg, known := backends[scheme]; known {
			return nil, fmt.Errorf("%w %q: import _ \"github.com/taskflow-go/taskflow/%s\" to open it", ErrUnknownScheme, scheme, pkg)
		}
		return nil, fmt.Errorf("%w %q: registered are %s", ErrUnknownScheme, scheme, strings.Join(Schemes(), ", "))
	}
	return open(ctx, url)
}
