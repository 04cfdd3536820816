package speedlayer_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/gctune"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/speedlayer"
	"github.com/lambda-platform/lambda/speedlayer/speedview"
)

// benchSetting reads an integer setting of the benchmark from the environment.
func benchSetting(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkSpeedLayer offers demo events at a fixed rate (LAMBDA_SPEED_BENCH_RATE
// events/s, default 100000, for LAMBDA_SPEED_BENCH_SECONDS, default 10), from a
// producer process of its own (this test binary, see startProducer), to a speed
// layer whose deltas build on a published batch run of 100000 entities (with the GC
// headroom `lambda speed` keeps, gctune.FoldHeadroomMB), and reports
// the sustained rate, the event→prediction latency (p50, p99, interpolated in the
// latency histogram) and, next to it, a raw PostgreSQL upsert of the same number of
// rows in batches of the same size, with the speed layer's statement and with COPY
// into a temporary table + INSERT ... ON CONFLICT.
func BenchmarkSpeedLayer(b *testing.B) {
	rate := benchSetting("LAMBDA_SPEED_BENCH_RATE", 100_000)
	seconds := benchSetting("LAMBDA_SPEED_BENCH_SECONDS", 10)
	e := newEnv(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// History: a published run over 200k events of 100k entities.
	const historyEvents = 200_000
	g := demogen.New(demogen.Config{Entities: 100_000, Seed: 9, EventsPerSecond: float64(rate)})
	history := make([]kafkago.Message, historyEvents)
	for i := range history {
		history[i] = kafka.EventMessage(g.Next())
	}
	e.produce(ctx, e.topic, history...)
	cut := e.ends(ctx)
	for p := range cut {
		cut[p]--
	}
	e.publish(ctx, e.readLog(ctx, e.ends(ctx)), cut)

	defer gctune.Start(gctune.FoldHeadroomMB << 20)() // as `lambda speed` and `lambda up` do
	r := e.start("bench", e.pool, speedlayer.Config{})
	time.Sleep(2 * time.Second) // assignment and the first (empty) rebuilds

	// The offered load comes from a process of its own: the same stream, after the history.
	producer := startProducer(b, e, rate, seconds, historyEvents)
	producerCPU, pgCPU, benchCPU := testenv.ProcessCPU(producer.Process.Pid), testenv.ServerCPU(testenv.PostgresComm), testenv.SelfCPU()
	b.ResetTimer()
	start := time.Now()
	if err := producer.Wait(); err != nil {
		b.Fatalf("producer: %v", err)
	}
	produced := time.Since(start)
	producerCPU = producer.ProcessState.UserTime() + producer.ProcessState.SystemTime() - producerCPU
	ends := e.ends(ctx)
	e.waitCommitted(ctx, "bench", ends)
	took := time.Since(start)
	b.StopTimer()
	pgCPU, benchCPU = testenv.ServerCPU(testenv.PostgresComm)-pgCPU, testenv.SelfCPU()-benchCPU

	events := counter(b, r.reg, "lambda_speed_events_total")
	rows := counter(b, r.reg, "lambda_speed_rows_upserted_total")
	batches := histCount(b, r.reg, "lambda_speed_batch_duration_seconds")
	p50, p99 := quantile(b, r.reg, "lambda_speed_event_latency_seconds", 0.5), quantile(b, r.reg, "lambda_speed_event_latency_seconds", 0.99)
	bp50, bp99 := quantile(b, r.reg, "lambda_speed_batch_duration_seconds", 0.5), quantile(b, r.reg, "lambda_speed_batch_duration_seconds", 0.99)
	r.stop(b)
	batchRows := int(rows / float64(max(batches, 1)))
	b.Logf("offered %d events/s for %s (produced in %s); consumed %.0f events in %s: %.0f events/s; "+
		"latency p50 %.0f ms p99 %.0f ms; %.0f rows upserted in %d micro-batches (%d rows each, processed in p50 %.0f ms p99 %.0f ms)",
		rate, time.Duration(seconds)*time.Second, produced.Round(time.Millisecond), events, took.Round(time.Millisecond),
		events/took.Seconds(), p50*1000, p99*1000, rows, batches, batchRows, bp50*1000, bp99*1000)

	// Where the CPU went: the two cores are shared by the producer, this process (the
	// speed layer and the in-process broker) and PostgreSQL.
	perEvent := func(d time.Duration) float64 { return float64(d.Microseconds()) / events }
	b.Logf("CPU: producer %.2f µs/event, speed layer + broker %.2f µs/event, PostgreSQL %.2f µs/event (%.2f µs/row); %.2f cores busy of %d",
		perEvent(producerCPU), perEvent(benchCPU), perEvent(pgCPU), float64(pgCPU.Microseconds())/max(rows, 1),
		(producerCPU+benchCPU+pgCPU).Seconds()/took.Seconds(), runtime.NumCPU())
	b.ReportMetric(perEvent(benchCPU), "speed-cpu-µs/event")
	b.ReportMetric(perEvent(pgCPU), "pg-cpu-µs/event")
	b.ReportMetric(perEvent(producerCPU), "producer-cpu-µs/event")

	rawStatement, rawStatementCPU := rawUpsert(ctx, b, int(rows), batchRows, false)
	rawCopy, rawCopyCPU := rawUpsert(ctx, b, int(rows), batchRows, true)
	b.Logf("raw PostgreSQL upsert of %.0f rows in batches of %d: speed layer statement %.0f rows/s (PostgreSQL %.2f µs/row), "+
		"COPY + INSERT ON CONFLICT %.0f rows/s (%.2f µs/row); speed layer end to end %.0f rows/s",
		rows, batchRows, rawStatement, rawStatementCPU, rawCopy, rawCopyCPU, rows/took.Seconds())
	b.ReportMetric(events/took.Seconds(), "events/s")
	b.ReportMetric(p50*1000, "p50-ms")
	b.ReportMetric(p99*1000, "p99-ms")
	b.ReportMetric(rows/took.Seconds(), "rows/s")
	b.ReportMetric(rawStatement, "raw-rows/s")
	b.ReportMetric(rawCopy, "raw-copy-rows/s")
}

// rawUpsert upserts n rows into a fresh speed_view in batches of size, over as
// many distinct entities as batches hold rows, and returns rows/s and PostgreSQL's CPU
// time per row in µs.
func rawUpsert(ctx context.Context, b *testing.B, n, size int, viaCopy bool) (rowsPerSecond, cpuPerRow float64) {
	b.Helper()
	pool, _ := testenv.Postgres(b)
	view := speedview.New(pool)
	state := make([]byte, 120)
	vec := make([]float32, 15)
	entities := max(size*4, 1)
	now := time.Now()
	batch := make([]speedlayer.Row, 0, size)
	start, cpu := time.Now(), testenv.ServerCPU(testenv.PostgresComm)
	for i := range n {
		batch = append(batch, speedlayer.Row{EntityID: fmt.Sprintf("user-%06d", (i*7919)%entities), BaseRunID: 1,
			Partition: i % 6, CoveredOffset: int64(i), LastEventAt: now, AsOf: now, DeltaState: state, Vector: vec, Score: 0.5})
		if len(batch) == size || i == n-1 {
			dedup(&batch)
			var err error
			if viaCopy {
				err = copyUpsert(ctx, pool, batch)
			} else {
				_, err = view.Upsert(ctx, speedlayer.Model{Name: "m", Version: 1}, batch)
			}
			if err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return float64(n) / time.Since(start).Seconds(), float64((testenv.ServerCPU(testenv.PostgresComm) - cpu).Microseconds()) / float64(n)
}

// dedup keeps the last row of each entity.
func dedup(rows *[]speedlayer.Row) {
	seen := map[string]int{}
	out := (*rows)[:0]
	for _, r := range *rows {
		if i, ok := seen[r.EntityID]; ok {
			out[i] = r
			continue
		}
		seen[r.EntityID] = len(out)
		out = append(out, r)
	}
	*rows = out
}

// copyUpsert is the other raw upsert: COPY into a temporary table, then one INSERT
// ... SELECT ... ON CONFLICT, in one transaction.
func copyUpsert(ctx context.Context, pool *pgxpool.Pool, rows []speedlayer.Row) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS speed_stage (LIKE speed_view) ON COMMIT DELETE ROWS`); err != nil {
			return err
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"speed_stage"}, []string{"entity_id", "base_run_id", "kafka_partition",
			"covered_offset", "last_event_at", "as_of", "delta_state", "vector", "score", "model_name", "model_version", "updated_at"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				return []any{r.EntityID, r.BaseRunID, int32(r.Partition), r.CoveredOffset, r.LastEventAt, r.AsOf,
					r.DeltaState, r.Vector, r.Score, "m", int32(1), time.Now()}, nil
			}))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO speed_view SELECT * FROM speed_stage ON CONFLICT (entity_id) DO UPDATE SET
			base_run_id = excluded.base_run_id, kafka_partition = excluded.kafka_partition, covered_offset = excluded.covered_offset,
			last_event_at = excluded.last_event_at, as_of = excluded.as_of, delta_state = excluded.delta_state,
			vector = excluded.vector, score = excluded.score, model_name = excluded.model_name,
			model_version = excluded.model_version, updated_at = excluded.updated_at
			WHERE speed_view.covered_offset < excluded.covered_offset`)
		return err
	})
}

func gather(b *testing.B, reg *prometheus.Registry, name string) *dto.Metric {
	b.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return mf.Metric[0]
		}
	}
	b.Fatalf("metric %s not found", name)
	return nil
}

func counter(b *testing.B, reg *prometheus.Registry, name string) float64 {
	return gather(b, reg, name).GetCounter().GetValue()
}

func histCount(b *testing.B, reg *prometheus.Registry, name string) int {
	return int(gather(b, reg, name).GetHistogram().GetSampleCount())
}

// quantile interpolates the q-quantile of a histogram, as Prometheus'
// histogram_quantile does.
func quantile(b *testing.B, reg *prometheus.Registry, name string, q float64) float64 {
	h := gather(b, reg, name).GetHistogram()
	rank := q * float64(h.GetSampleCount())
	lower, below := 0.0, 0.0
	for _, bk := range h.Bucket {
		n := float64(bk.GetCumulativeCount())
		if n >= rank {
			return lower + (bk.GetUpperBound()-lower)*(rank-below)/math.Max(n-below, 1)
		}
		lower, below = bk.GetUpperBound(), n
	}
	return math.Inf(1)
}
