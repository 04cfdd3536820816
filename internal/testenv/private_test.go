package testenv_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestPrivatePostgresRestarts: a committed row survives an immediate stop, the server
// refuses connections while down and accepts them again after Start.
func TestPrivatePostgresRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	pg := testenv.StartPostgres(t)
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, pg.URL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE TABLE t (v int); INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	pg.StopImmediate(t)
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("the stopped server accepted a connection")
	}
	pg.Start(t)
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after the restart: v = %d, %v; want 42", v, err)
	}
}

// TestPrivateClickHouseRestarts: inserted rows survive a SIGKILL, the server refuses
// connections while down and answers again after Start.
func TestPrivateClickHouseRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ch := testenv.StartClickHouse(t)
	conn, err := store.OpenClickHouse(ctx, ch.Addr, "default", store.ClickHouseAuth{})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "CREATE TABLE t (v UInt32) ENGINE = MergeTree ORDER BY v"); err != nil {
		t.Fatal(err)
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO t (v)")
	if err != nil {
		t.Fatal(err)
	}
	for v := range uint32(100) {
		if err := b.Append(v); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()
	ch.Kill(t)
	if c, err := store.OpenClickHouse(ctx, ch.Addr, "default", store.ClickHouseAuth{}); err == nil {
		_ = c.Close()
		t.Fatal("the killed server accepted a connection")
	}
	ch.Start(t)
	conn, err = store.OpenClickHouse(ctx, ch.Addr, "default", store.ClickHouseAuth{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM t").Scan(&n); err != nil || n != 100 {
		t.Fatalf("after the restart: %d rows, %v; want 100", n, err)
	}
}
