package views_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/batchlayer/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/servinglayer/predict"
	"github.com/lambda-platform/lambda/servinglayer/views"
)

func TestSpeedRows(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := pool.Exec(ctx, `INSERT INTO speed_view
		(entity_id, base_run_id, kafka_partition, covered_offset, last_event_at, as_of, delta_state, vector, score, model_name, model_version, updated_at)
		VALUES ('scored', 4, 2, 120, $1, $2, '\x01', '{1.5,2}', 0.75, 'demo', 3, $2),
		       ('unscored', NULL, 5, 7, $1, $2, '\x01', NULL, NULL, NULL, NULL, $2)`, at, at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	pg := views.NewPostgres(pool)
	rows, err := pg.SpeedRows(ctx, []string{"scored", "unscored", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rows, func(a, b predict.SpeedRow) int { return len(a.EntityID) - len(b.EntityID) })
	want := []predict.SpeedRow{
		{EntityID: "scored", BaseRunID: 4, Coverage: predict.Coverage{Partition: 2, Offset: 120, LastEvent: at},
			AsOf: at.Add(time.Second), UpdatedAt: at.Add(time.Second), Scored: true, Vector: []float32{1.5, 2}, Score: 0.75,
			ModelName: "demo", ModelVersion: 3},
		{EntityID: "unscored", Coverage: predict.Coverage{Partition: 5, Offset: 7, LastEvent: at},
			AsOf: at.Add(time.Second), UpdatedAt: at.Add(time.Second)},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i := range want {
		if !equalSpeed(rows[i], want[i]) {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, rows[i], want[i])
		}
	}
	one, err := pg.SpeedRows(ctx, []string{"scored"})
	if err != nil || len(one) != 1 || !equalSpeed(one[0], want[0]) {
		t.Errorf("one id: %+v, %v", one, err)
	}
}

func equalSpeed(a, b predict.SpeedRow) bool {
	return a.EntityID == b.EntityID && a.BaseRunID == b.BaseRunID && a.Partition == b.Partition && a.Offset == b.Offset &&
		a.LastEvent.Equal(b.LastEvent) && a.AsOf.Equal(b.AsOf) && a.UpdatedAt.Equal(b.UpdatedAt) && a.Scored == b.Scored &&
		slices.Equal(a.Vector, b.Vector) && a.Score == b.Score && a.ModelName == b.ModelName && a.ModelVersion == b.ModelVersion
}

func TestBatchRows(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ctx := t.Context()
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	last := asOf.Add(-time.Hour)
	written := time.Now().Add(-time.Minute)
	for _, run := range []int64{1, 2} {
		for _, id := range []string{"a", "b", `o'dd\ id`} {
			insertBatchRow(t, conn, db, run, predict.BatchRow{EntityID: id, Coverage: predict.Coverage{Partition: 3, Offset: 100 * run, LastEvent: last},
				AsOf: asOf, Vector: []float32{float32(run), 1}, Score: float32(run) / 10, ModelName: "demo", ModelVersion: 2}, written)
		}
	}
	// A retried write of run 2's "a" with a newer written_at wins over the first copy.
	insertBatchRow(t, conn, db, 2, predict.BatchRow{EntityID: "a", Coverage: predict.Coverage{Partition: 3, Offset: 200, LastEvent: last},
		AsOf: asOf, Vector: []float32{2, 1}, Score: 0.25, ModelName: "demo", ModelVersion: 2}, written.Add(time.Second))

	rows, err := views.NewClickHouse(conn, db).BatchRows(ctx, 2, []string{"a", "b", "absent", `o'dd\ id`})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rows, func(a, b predict.BatchRow) int { return int(a.EntityID[0]) - int(b.EntityID[0]) })
	if len(rows) != 3 || rows[2].EntityID != `o'dd\ id` {
		t.Fatalf("got %+v, want rows a, b and o'dd\\ id of run 2", rows)
	}
	want := predict.BatchRow{EntityID: "a", RunID: 2, Coverage: predict.Coverage{Partition: 3, Offset: 200, LastEvent: last},
		AsOf: asOf, Vector: []float32{2, 1}, Score: 0.25, ModelName: "demo", ModelVersion: 2}
	if got := rows[0]; got.EntityID != want.EntityID || got.RunID != want.RunID || got.Coverage != want.Coverage ||
		!got.AsOf.Equal(want.AsOf) || !slices.Equal(got.Vector, want.Vector) || got.Score != want.Score ||
		got.ModelName != want.ModelName || got.ModelVersion != want.ModelVersion {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if rows[1].Score != 0.2 {
		t.Errorf("b: score %v, want 0.2 (run 2)", rows[1].Score)
	}
}

// insertBatchRow writes one batch_view row as a batch run does.
func insertBatchRow(t *testing.T, conn driver.Conn, db string, run int64, r predict.BatchRow, written time.Time) {
	t.Helper()
	ctx := t.Context()
	b, err := conn.PrepareBatch(ctx, "INSERT INTO `"+db+"`.batch_view (run_id, entity_id, kafka_partition, covered_offset, "+
		"last_event_us, as_of_us, state, vector, score, model_name, model_version, written_at)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint64(run), r.EntityID, r.Partition, r.Offset, r.LastEvent.UnixMicro(), r.AsOf.UnixMicro(), "state",
		r.Vector, r.Score, r.ModelName, uint32(r.ModelVersion), written); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchRowsManyLongIDs(t *testing.T) {
	conn, db := testenv.ClickHouse(t)
	ids := make([]string, 1000) // 1000 ids of 256 bytes: more than one query's worth
	for i := range ids {
		ids[i] = fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 252))
	}
	now := time.Now()
	insertBatchRow(t, conn, db, 1, predict.BatchRow{EntityID: ids[0], AsOf: now}, now)
	insertBatchRow(t, conn, db, 1, predict.BatchRow{EntityID: ids[999], AsOf: now}, now)
	rows, err := views.NewClickHouse(conn, db).BatchRows(t.Context(), 1, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Errorf("got %d rows, want the first and the last id's", len(rows))
	}
}

func TestPublishedRuns(t *testing.T) {
	pool, _ := testenv.Postgres(t)
	ctx := t.Context()
	pg := views.NewPostgres(pool)
	if _, ok, err := pg.Published(ctx); err != nil || ok {
		t.Fatalf("Published before any run: ok %v, err %v", ok, err)
	}

	notified := make(chan struct{}, 10)
	ready := make(chan struct{})
	listenCtx, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- pg.ListenPublished(listenCtx, func() { close(ready) }, func() { notified <- struct{}{} })
	}()
	<-ready

	run, err := runs.Start(ctx, pool, runs.TriggerCLI, "test")
	if err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := runs.SetCutoff(ctx, pool, run.ID, runs.Cutoff{Offsets: []int64{5, 6}, Imported: -1, EventTime: cutoff}); err != nil {
		t.Fatal(err)
	}
	if _, err := runs.Publish(ctx, pool, run.ID, runs.Counts{EventsRead: 11}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-notified:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification of the publish")
	}
	got, ok, err := pg.Published(ctx)
	if err != nil || !ok || got.ID != run.ID || !got.CutoffEventTime.Equal(cutoff) || got.PublishedAt.IsZero() {
		t.Errorf("Published = %+v, %v, %v; want run %d with cutoff %v", got, ok, err, run.ID, cutoff)
	}
	r, err := pg.Run(ctx, run.ID)
	if err != nil || r.EventsRead != 11 || r.Status != runs.StatusPublished {
		t.Errorf("Run = %+v, %v", r, err)
	}
	list, err := pg.Runs(ctx, 10)
	if err != nil || len(list) != 1 || list[0].ID != run.ID {
		t.Errorf("Runs = %+v, %v", list, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenPublished ended with %v after its context", err)
	}
}
