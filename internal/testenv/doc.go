// Package testenv gives each test its own, uniquely named database on the real servers
// the project's scripts start (`make services-up`), migrated to the current schema and
// dropped when the test ends, so tests run again and in any order, in parallel.
//
// The servers are found through the same variables as the binary's
// (LAMBDA_POSTGRES_URL, LAMBDA_CLICKHOUSE_ADDR, with the same local defaults). A server
// that cannot be reached fails the test: a test that needs one never silently passes.
//
// A test that stops, kills or restarts a server starts one of its own instead
// (StartPostgres, StartClickHouse: free loopback ports, data in a temporary
// directory) and points the variables at it; the shared servers are never touched.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"
	"time"
)

// Time limits for creating and for dropping a test database.
const (
	setupTimeout   = time.Minute
	cleanupTimeout = 30 * time.Second
)

// servicesHint tells the reader of a failed test how to get the servers.
const servicesHint = "`make services-up` starts the local servers"

// uniqueName returns a fresh database name, lambda_test_<12 hex digits>.
func uniqueName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "lambda_test_" + hex.EncodeToString(b)
}

// env returns the value of the environment variable key, or def when it is unset or empty.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// logger writes to the test's output, shown for failed tests and with -v.
func logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}
