// Package pgtest gives the project's own tests a PostgreSQL database: a
// pool on the server TASKFLOW_TEST_DATABASE_URL names, and fresh schemas
// dropped after each test. It is for contributors, not users.
//
// A test rig: only taskflow's own tests import it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool connects to TASKFLOW_TEST_DATABASE_URL, which must name a loopback
// host. Without it the test is skipped, or fails when CI=true. The pool's
// application_name is unique, so a test can find its own backends; it is
// closed after the test.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := os.Getenv("TASKFLOW_TEST_DATABASE_URL")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TASKFLOW_TEST_DATABASE_URL is not set; CI must provide PostgreSQL, e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		}
		t.Skip("PostgreSQL tests skipped: set TASKFLOW_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("TASKFLOW_TEST_DATABASE_URL: %v", err)
	}
	hosts := []string{cfg.ConnConfig.Host}
	for _, f := range cfg.ConnConfig.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("TASKFLOW_TEST_DATABASE_URL host %q is not a loopback address", h)
		}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "taskflow-test-" + randomHex()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connect to TASKFLOW_TEST_DATABASE_URL: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Schema returns a fresh schema name on pool, dropped after the test.
func Schema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	name := "tftest_" + randomHex()
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

func randomHex() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
