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

	"github.com/lambda-platform/lambda/batchlayer/internal/batchtest"
	"github.com/lambda-platform/lambda/batchlayer/parquetio"
	"github.com/lambda-platform/lambda/batchlayer/view"
)

// TestExportRoundTrips writes a view, exports it and reads the file back: every
// row and field equals what view.Read returns; other runs are left out.
func TestExportRoundTrips(t *testing.T) {
	env := batchtest.New(t)
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
	var want []view.Stored
	if err := view.Read(t.Context(), env.ClickHouse, env.Database, 7, func(s view.Stored) error {
		want = append(want, s)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	n, err := parquetio.Export(t.Context(), env.ClickHouse, env.Database, 7, &buf)
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
			got := view.Stored{
				Run: view.Run{
					ID:           col("run_id").(*array.Uint64).Value(r),
					AsOf:         ts("as_of", r),
					ModelName:    col("model_name").(*array.String).Value(r),
					ModelVersion: col("model_version").(*array.Uint32).Value(r),
				},
				Row: view.Row{
					EntityID:       col("entity_id").(*array.String).Value(r),
					KafkaPartition: col("kafka_partition").(*array.Int32).Value(r),
					CoveredOffset:  col("covered_offset").(*array.Int64).Value(r),
					LastEvent:      ts("last_event", r),
					State:          col("state").(*array.Binary).Value(r),
					Vector:         vec.ListValues().(*array.Float32).Float32Values()[start:end],
					Score:          col("score").(*array.Float32).Value(r),
				},
				WrittenAt: ts("written_at", r),
			}
			if got.ID != w.ID || got.EntityID != w.EntityID || got.KafkaPartition != w.KafkaPartition ||
				got.CoveredOffset != w.CoveredOffset || !got.LastEvent.Equal(w.LastEvent) || !got.AsOf.Equal(w.AsOf) ||
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
