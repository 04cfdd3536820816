package parquetio_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"

	"github.com/lambda-platform/lambda/batchlayer/parquetio"
	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/views"
)

// TestExportRoundTrips writes a view, exports it and reads the file back: every
// row and field equals what the batch view reader returns; other runs are left out.
func TestExportRoundTrips(t *testing.T) {
	env := mastertest.New(t)
	asOf := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	for _, id := range []uint64{7, 8} {
		w := view.NewWriter(env.ClickHouse, env.Database, view.Run{ID: id, AsOf: asOf, ModelName: "m", ModelVersion: 3}, 100)
		for i := range 250 {
			err := w.Add(t.Context(), view.Row{
				EntityID: fmt.Sprintf("user-%04d", i), KafkaPartition: int32(i % 6), CoveredOffset: int64(1000 + i%6),
				LastEvent: asOf.Add(-time.Duration(i) * time.Second), State: []byte{1, 2, byte(i)},
				Vector: []float32{float32(i), 0.5, -1}, Score: float32(i) / 250,
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	reader := views.NewBatch(env.Stream, env.Database)
	var want []views.Record
	if err := reader.Scan(t.Context(), 7, views.Scores|views.States|views.WrittenAt, func(r *views.Record) error {
		c := *r
		c.EntityID, c.State, c.Vector = slices.Clone(r.EntityID), slices.Clone(r.State), slices.Clone(r.Vector)
		want = append(want, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	n, err := parquetio.Export(t.Context(), reader, 7, &buf)
	if err != nil || n != 250 || len(want) != 250 {
		t.Fatalf("Export = %d rows, %v; view has %d", n, err, len(want))
	}
	tbl, err := pqarrow.ReadTable(t.Context(), bytes.NewReader(buf.Bytes()), nil, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	rr := array.NewTableReader(tbl, -1)
	defer rr.Release()
	i := 0
	for rr.Next() {
		rec := rr.Record()
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		ts := func(name string, r int) time.Time {
			c := col(name).(*array.Timestamp)
			return c.Value(r).ToTime(c.DataType().(*arrow.TimestampType).Unit)
		}
		vec := col("vector").(*array.List)
		for r := range int(rec.NumRows()) {
			w := want[i]
			start, end := vec.ValueOffsets(r)
			got := views.Record{
				RunID:    int64(col("run_id").(*array.Uint64).Value(r)),
				EntityID: []byte(col("entity_id").(*array.String).Value(r)),
				Coverage: views.Coverage{
					Partition: col("kafka_partition").(*array.Int32).Value(r),
					Offset:    col("covered_offset").(*array.Int64).Value(r),
					LastEvent: ts("last_event", r),
				},
				AsOf:         ts("as_of", r),
				Vector:       vec.ListValues().(*array.Float32).Float32Values()[start:end],
				Score:        col("score").(*array.Float32).Value(r),
				ModelName:    col("model_name").(*array.String).Value(r),
				ModelVersion: int64(col("model_version").(*array.Uint32).Value(r)),
				State:        col("state").(*array.Binary).Value(r),
				WrittenAt:    ts("written_at", r),
			}
			if got.RunID != w.RunID || string(got.EntityID) != string(w.EntityID) || got.Partition != w.Partition ||
				got.Offset != w.Offset || !got.LastEvent.Equal(w.LastEvent) || !got.AsOf.Equal(w.AsOf) ||
				!bytes.Equal(got.State, w.State) || !slices.Equal(got.Vector, w.Vector) || got.Score != w.Score ||
				got.ModelName != w.ModelName || got.ModelVersion != w.ModelVersion || !got.WrittenAt.Equal(w.WrittenAt) {
				t.Fatalf("row %d: %+v, want %+v", i, got, w)
			}
			i++
		}
	}
	if i != len(want) {
		t.Errorf("read %d rows back, want %d", i, len(want))
	}
}
