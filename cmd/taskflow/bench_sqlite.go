package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/taskflow-go/taskflow/storage/sqlitestore"
)

// openSQLite sets e.store to a SQLite store on --file, or on a fresh file
// removed at the end, and returns what undoes it.
func (e *benchEnv) openSQLite(ctx context.Context, stderr io.Writer) (func(), error) {
	path, dir := e.cfg.file, ""
	if path == "" {
		var err error
		if dir, err = os.MkdirTemp("", "taskflow-bench-"); err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "jobs.db")
	}
	s, err := sqlitestore.Open(ctx, path)
	if err != nil {
		if dir != "" {
			os.RemoveAll(dir)
		}
		return nil, err
	}
	fmt.Fprintf(stderr, "using SQLite file %s\n", path)
	e.store = s
	return func() {
		if err := s.Close(); err != nil {
			fmt.Fprintf(stderr, "close %s: %v\n", path, err)
		}
		if dir != "" {
			os.RemoveAll(dir)
		}
	}, nil
}
