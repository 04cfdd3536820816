package migrations_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/migrations"
)

func TestClickHouseAppliesOnce(t *testing.T) {
	conn, db := testenv.EmptyClickHouse(t)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	checkAppliesOnce(t,
		func(ctx context.Context) (int, error) { return migrations.ClickHouse(ctx, conn, db, log) },
		func(ctx context.Context) (migrations.Status, error) {
			return migrations.ClickHouseStatus(ctx, conn, db)
		})
}

// TestClickHouseConcurrentMigrators checks that idempotent DDL lets two migrators
// race on a fresh database: both succeed, however the statements interleave.
func TestClickHouseConcurrentMigrators(t *testing.T) {
	conn, db := testenv.EmptyClickHouse(t)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = migrations.ClickHouse(ctx, conn, db, log) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent migrate: %v", err)
	}
	st, err := migrations.ClickHouseStatus(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	if st.Current != st.Latest {
		t.Errorf("status %+v, want current = latest", st)
	}
}

func TestClickHouseTables(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	want := map[string][]string{
		"schema_migrations": {"version UInt32", "name String", "applied_at DateTime"},
		"events": {
			"kafka_partition Int32", "kafka_offset Int64", "event_id String", "entity_id String",
			"type String", "ts DateTime", "ts_us Int64", "arrival_us Int64", "value Float64", "has_value UInt8",
			"attrs_keys Array(String)", "attrs_values Array(String)", "ingested_at DateTime",
		},
		"events_offsets": {
			"kafka_partition Int32",
			"max_offset AggregateFunction(max, Int64)",
			"max_ts_us AggregateFunction(max, Int64)",
		},
		"batch_view": {
			"run_id UInt64", "entity_id String", "kafka_partition Int32", "covered_offset Int64",
			"last_event_us Int64", "as_of_us Int64", "state String", "vector Array(Float32)",
			"score Float32", "model_name String", "model_version UInt32", "written_at DateTime",
		},
	}
	for table, cols := range want {
		rows, err := conn.Query(t.Context(),
			"SELECT concat(name, ' ', type) FROM system.columns WHERE database = ? AND table = ?", db, table)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			got = append(got, c)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, cols) {
			t.Errorf("table %s columns:\n got %q\nwant %q", table, got, cols)
		}
	}
}

// event is one row of the events table, as the archiver writes it.
type event struct {
	partition int32
	offset    int64
	id        string
	entity    string
	ts        time.Time
}

// insertEvents writes evs in one INSERT, through the batch API.
func insertEvents(t *testing.T, conn driver.Conn, evs ...event) {
	t.Helper()
	batch, err := conn.PrepareBatch(t.Context(), `INSERT INTO events (kafka_partition, kafka_offset, event_id,
		entity_id, type, ts, ts_us, value, has_value, attrs_keys, attrs_values, ingested_at)`)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Close()
	for _, e := range evs {
		err := batch.Append(e.partition, e.offset, e.id, e.entity, "view", e.ts, e.ts.UnixMicro(),
			1.5, uint8(1), []string{"k"}, []string{"v"}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

func TestEventsRedeliveryCollapses(t *testing.T) {
	conn, _ := testenv.ClickHouse(t)
	ctx := t.Context()
	ts := time.Date(2026, 3, 31, 23, 59, 59, 123456000, time.UTC)
	e := event{partition: 2, offset: 41, id: "e-41", entity: "user-1", ts: ts}
	insertEvents(t, conn, e, event{partition: 2, offset: 42, id: "e-42", entity: "user-1", ts: ts.Add(time.Second)})
	insertEvents(t, conn, e) // the archiver crashed before committing and replays offset 41

	// The dedup read every exact reader uses before merges.
	rows, err := conn.Query(ctx, `SELECT kafka_offset, event_id, ts_us FROM events
		WHERE entity_id = ? ORDER BY kafka_partition, kafka_offset LIMIT 1 BY kafka_partition, kafka_offset`, "user-1")
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	for rows.Next() {
		var (
			offset int64
			id     string
			tsUS   int64
		)
		if err := rows.Scan(&offset, &id, &tsUS); err != nil {
			t.Fatal(err)
		}
		if offset == 41 && (id != "e-41" || tsUS != ts.UnixMicro()) {
			t.Errorf("offset 41 read back as event %q at %d µs, want e-41 at %d", id, tsUS, ts.UnixMicro())
		}
		offsets = append(offsets, offset)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(offsets, []int64{41, 42}) {
		t.Errorf("deduplicated offsets %v, want [41 42]", offsets)
	}

	// The engine collapses the copy too, once the parts merge.
	if err := conn.Exec(ctx, "OPTIMIZE TABLE events FINAL"); err != nil {
		t.Fatal(err)
	}
	var stored uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM events").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 2 {
		t.Errorf("after merge %d rows stored, want 2", stored)
	}

	// The per-partition high-water mark the batch cutoff reads.
	var maxOffset, maxTS int64
	err = conn.QueryRow(ctx, `SELECT maxMerge(max_offset), maxMerge(max_ts_us) FROM events_offsets
		WHERE kafka_partition = 2`).Scan(&maxOffset, &maxTS)
	if err != nil {
		t.Fatal(err)
	}
	if maxOffset != 42 || maxTS != ts.Add(time.Second).UnixMicro() {
		t.Errorf("events_offsets partition 2: offset %d, ts %d; want 42, %d", maxOffset, maxTS, ts.Add(time.Second).UnixMicro())
	}
}

func TestBatchViewRuns(t *testing.T) {
	conn, _ := testenv.ClickHouse(t)
	ctx := t.Context()
	write := func(run uint64, score float32, at time.Time) {
		t.Helper()
		batch, err := conn.PrepareBatch(ctx, `INSERT INTO batch_view (run_id, entity_id, kafka_partition,
			covered_offset, last_event_us, as_of_us, state, vector, score, model_name, model_version, written_at)`)
		if err != nil {
			t.Fatal(err)
		}
		defer batch.Close()
		err = batch.Append(run, "user-1", int32(0), int64(9), at.UnixMicro(), at.UnixMicro(), "state",
			[]float32{1, 2}, score, "churn", uint32(1), at)
		if err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Truncate(time.Second)
	write(1, 0.1, now)
	write(2, 0.2, now)
	write(2, 0.3, now.Add(time.Second)) // run 2 retried its write

	read := func(run uint64) (n uint64, score float32) {
		t.Helper()
		err := conn.QueryRow(ctx, `SELECT count(), argMax(score, written_at) FROM (
			SELECT score, written_at FROM batch_view WHERE run_id = ? AND entity_id = ?)`, run, "user-1").Scan(&n, &score)
		if err != nil {
			t.Fatal(err)
		}
		return n, score
	}
	if _, score := read(2); score != 0.3 {
		t.Errorf("run 2 score %v, want the retried write's 0.3", score)
	}
	if err := conn.Exec(ctx, "ALTER TABLE batch_view DROP PARTITION 1"); err != nil {
		t.Fatal(err)
	}
	if n, _ := read(1); n != 0 {
		t.Errorf("run 1 has %d rows after DROP PARTITION, want 0", n)
	}
	if n, _ := read(2); n == 0 {
		t.Error("run 2 lost its rows when run 1 was dropped")
	}
}
