package store_test

import (
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

func TestOpenPostgres(t *testing.T) {
	openPostgres(t)
}

// openPostgres opens a pool on a fresh database of the test server with
// store.OpenPostgres (testenv fails the test if it cannot), closed at the end of the test.
func openPostgres(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, _ := testenv.EmptyPostgres(t)
	return pool
}

func TestOpenClickHouse(t *testing.T) {
	addr := os.Getenv(store.EnvClickHouseAddr)
	if addr == "" {
		addr = store.DefaultClickHouseAddr
	}
	conn, err := store.OpenClickHouse(t.Context(), addr, "default", store.ClickHouseAuth{})
	if err != nil {
		t.Fatalf("%v (`make services-up` starts the local servers)", err)
	}
	if err := conn.Close(); err != nil {
		t.Error(err)
	}
}

// TestUnreachableNamesAddress checks that a server that is not there gives an error
// naming its address, and no password.
func TestUnreachableNamesAddress(t *testing.T) {
	const addr = "127.0.0.1:1" // nothing listens on port 1
	_, err := store.OpenPostgres(t.Context(), "postgres://lambda:s3cret@"+addr+"/lambda?sslmode=disable")
	if err == nil || !strings.Contains(err.Error(), addr) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("OpenPostgres error %q, want one naming %s without the password", err, addr)
	}
	_, err = store.OpenClickHouse(t.Context(), addr, "default", store.ClickHouseAuth{})
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("OpenClickHouse error %q, want one naming %s", err, addr)
	}
}
