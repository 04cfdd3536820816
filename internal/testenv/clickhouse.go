package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/migrations"
)

// ClickHouse creates a fresh database on the ClickHouse server of LAMBDA_CLICKHOUSE_ADDR,
// applies the migrations, and returns a connection whose default database it is, and
// its name. The connection is closed and the database dropped when the test ends.
func ClickHouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	admin, name := EmptyClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := migrations.ClickHouse(ctx, admin, name, logger(t)); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	conn, err := store.OpenClickHouse(ctx, clickHouseAddr(), name, store.ClickHouseAuth{})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, name
}

// EmptyClickHouse returns a connection to the server's "default" database and a fresh
// database name that nothing has created yet. Whatever database of that name exists
// when the test ends is dropped.
func EmptyClickHouse(t testing.TB) (driver.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	addr := clickHouseAddr()
	admin, err := store.OpenClickHouse(ctx, addr, "default", store.ClickHouseAuth{})
	if err != nil {
		t.Fatalf("testenv: ClickHouse (%s) unreachable: %v; %s", store.EnvClickHouseAddr, err, servicesHint)
	}
	name := uniqueName()
	t.Cleanup(func() {
		defer func() { _ = admin.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("testenv: drop clickhouse database %s: %v", name, err)
		}
	})
	return admin, name
}

// clickHouseAddr is the native-protocol address of the test server.
func clickHouseAddr() string {
	return env(store.EnvClickHouseAddr, store.DefaultClickHouseAddr)
}

// ClickHouseStream locates the test server for chstream's bulk reads of database.
func ClickHouseStream(database string) chstream.Options {
	return chstream.Options{Addr: clickHouseAddr(), Database: database}
}

// InsertBatchView writes rows into database's batch_view with one insert, as a batch
// run does; a zero WrittenAt is now.
func InsertBatchView(t testing.TB, conn driver.Conn, database string, rows ...views.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO `"+database+"`.batch_view (run_id, entity_id, kafka_partition, covered_offset, "+
		"last_event_us, as_of_us, state, vector, score, model_name, model_version, written_at)")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for _, r := range rows {
		if r.WrittenAt.IsZero() {
			r.WrittenAt = time.Now()
		}
		if err := b.Append(uint64(r.RunID), string(r.EntityID), r.Partition, r.Offset, r.LastEvent.UnixMicro(), r.AsOf.UnixMicro(),
			string(r.State), r.Vector, r.Score, r.ModelName, uint32(r.ModelVersion), r.WrittenAt); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	if err := b.Send(); err != nil {
		t.Fatalf("testenv: insert %d batch_view rows: %v", len(rows), err)
	}
}
