package batchstore_test

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer/batchstore"
)

// BenchmarkLoad loads a run of $LAMBDA_BENCH_STORE_ENTITIES entities (default 1M) with 15
// features into a Store, next to the bare ClickHouse read it stands on (the same rows
// and columns in the same order, decoded and dropped), and reports the memory per
// entity and the cost of a lookup.
func BenchmarkLoad(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("LAMBDA_BENCH_STORE_ENTITIES")); err == nil && v > 0 {
		n = v
	}
	conn, db := testenv.ClickHouse(b)
	asOf := time.Now().Add(-time.Hour).UTC()
	vec := make([]float32, 15)
	for from := 0; from < n; from += 100_000 {
		rows := make([]views.Record, 0, 100_000)
		for i := from; i < min(from+100_000, n); i++ {
			r := row(1, i, asOf)
			r.Vector = vec
			rows = append(rows, r)
		}
		testenv.InsertBatchView(b, conn, db, rows...)
	}
	stream := testenv.ClickHouseStream(db)
	src := views.NewBatch(stream, db)
	run := runs.Run{ID: 1, Counts: runs.Counts{RowsWritten: int64(n)}}

	b.Run("raw-read", func(b *testing.B) {
		for range b.N {
			var (
				ids                proto.ColStr
				part               proto.ColInt32
				off, last, asOfCol proto.ColInt64
				vals               proto.ColFloat32
				score              proto.ColFloat32
				model              proto.ColStr
				version            proto.ColUInt32
				rowsRead           int
			)
			vector := proto.NewArray[float32](&vals)
			start := time.Now()
			err := chstream.Select(b.Context(), stream, "", "SELECT entity_id, kafka_partition, covered_offset, last_event_us, as_of_us, "+
				"vector, score, model_name, model_version FROM batch_view WHERE run_id = 1 ORDER BY entity_id, written_at DESC",
				proto.Results{{Name: "entity_id", Data: &ids}, {Name: "kafka_partition", Data: &part}, {Name: "covered_offset", Data: &off},
					{Name: "last_event_us", Data: &last}, {Name: "as_of_us", Data: &asOfCol}, {Name: "vector", Data: vector},
					{Name: "score", Data: &score}, {Name: "model_name", Data: &model}, {Name: "model_version", Data: &version}},
				func(rows int) error { rowsRead += rows; return nil })
			if err != nil || rowsRead != n {
				b.Fatalf("read %d rows, %v", rowsRead, err)
			}
			b.ReportMetric(time.Since(start).Seconds(), "read-s")
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
		}
	})
	var s *batchstore.Store
	b.Run("load", func(b *testing.B) {
		for range b.N {
			s = nil
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			start := time.Now()
			var err error
			if s, err = batchstore.Load(b.Context(), src, run); err != nil || s.Len() != n {
				b.Fatalf("loaded %v, %v", s, err)
			}
			took := time.Since(start)
			runtime.GC()
			runtime.ReadMemStats(&m1)
			b.ReportMetric(took.Seconds(), "load-s")
			b.ReportMetric(float64(n)/took.Seconds(), "entities/s")
			b.ReportMetric(float64(s.Bytes())/float64(n), "B/entity")
			b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(n), "heap-B/entity")
		}
	})
	b.Run("get", func(b *testing.B) {
		ids := make([]string, 1024)
		for i := range ids {
			ids[i] = fmt.Sprintf("user-%06d", (i*7919)%n)
		}
		const lookups = 1 << 22
		for range b.N {
			start := time.Now()
			for i := range lookups {
				if _, ok := s.Get(ids[i%len(ids)]); !ok {
					b.Fatal("not found")
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/lookups, "ns/get")
		}
	})
}
