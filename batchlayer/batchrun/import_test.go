package batchrun_test

import (
	"bytes"
	"testing"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/batchlayer/parquetio"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/runs"
)

// TestParquetImportThenRun backfills events from a Parquet file next to archived
// ones, for the same and for new entities: the run includes them as if they had come
// through Kafka.
func TestParquetImportThenRun(t *testing.T) {
	f := newFixture(t)
	f.produce(t, 3000, 1)
	g := demogen.New(demogen.Config{Entities: 600, Seed: 9}) // half the entities are new
	backfill := make([]event.Event, 2000)
	for i := range backfill {
		backfill[i] = g.Next()
	}
	var buf bytes.Buffer
	mastertest.WriteEvents(t, &buf, backfill)
	imported, err := parquetio.Import(t.Context(), bytes.NewReader(buf.Bytes()), f.Events, f.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range backfill {
		f.logged = append(f.logged, mastertest.Logged{Event: e, Partition: master.ImportPartition, Offset: imported.FirstOffset + int64(i)})
	}
	run := runToEnd(t, f.runner(t, batchrun.Config{}, nil))
	if run.Status != runs.StatusPublished || run.CutoffImported != imported.LastOffset || run.EventsRead != 5000 {
		t.Fatalf("run %s (%s), cutoff imported %d, %d events read; want published, %d, 5000",
			run.Status, run.Error, run.CutoffImported, run.EventsRead, imported.LastOffset)
	}
	f.checkView(t, run)
}
