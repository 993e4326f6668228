package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/taskflow-go/taskflow/dashboard"
)

var dashboardCommand = &command{
	name: "dashboard", args: "[--addr HOST:PORT] [--read-only] [--hide-args] [--csrf-key-file PATH]",
	summary: "Serve the dashboard over HTTP until interrupted",
	help: `dashboard serves taskflow's dashboard for the database and schema given,
until SIGINT or SIGTERM. It answers only requests from this machine (a
loopback client asking for localhost or a loopback address): to reach it
from elsewhere, tunnel to it (ssh -L) or mount package dashboard in a
program of yours with an Authorize function. With --csrf-key-file, pages
stay valid across restarts and replicas that read the same key: a file of
32 or more random bytes (head -c 32 /dev/urandom > key).`,
	define: func(fs *flag.FlagSet, e *env) action {
		e.dbFlags(fs)
		addr := fs.String("addr", "127.0.0.1:8080", "`address` to listen on")
		readOnly := fs.Bool("read-only", false, "hide and refuse every action")
		hideArgs := fs.Bool("hide-args", false, "keep a job's arguments and result off the pages: a link shows them")
		keyFile := fs.String("csrf-key-file", "", "`file` of the key that signs the forms' CSRF tokens (default: a random key)")
		return func(ctx context.Context, args []string) error {
			if err := noArgs("dashboard", args); err != nil {
				return err
			}
			c, err := e.client(ctx)
			if err != nil {
				return err
			}
			var key []byte
			if *keyFile != "" {
				if key, err = os.ReadFile(*keyFile); err != nil {
					return fmt.Errorf("dashboard: %w", err)
				}
			}
			h, err := dashboard.New(c, dashboard.Options{ReadOnly: *readOnly, HideArgs: *hideArgs, CSRFKey: key})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", *addr)
			if err != nil {
				return fmt.Errorf("dashboard: %w", err)
			}
			fmt.Fprintf(e.stderr, "dashboard on http://%s\n", ln.Addr())
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			done := make(chan error, 1)
			go func() { done <- srv.Serve(ln) }()
			select {
			case err := <-done:
				return fmt.Errorf("dashboard: %w", err)
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil {
				return fmt.Errorf("dashboard: %w", err)
			}
			if err := <-done; !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("dashboard: %w", err)
			}
			return nil
		}
	},
}
