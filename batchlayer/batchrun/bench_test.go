package batchrun_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/internal/chstream"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// benchEventsEnv overrides the size of the benchmark's master dataset.
const benchEventsEnv = "LAMBDA_BENCH_EVENTS"

// BenchmarkRun generates a master dataset of 5 million demo events (100k entities,
// 6 partitions) with column inserts, then measures a whole batch run next to the raw
// ClickHouse speeds on the same data in the same process:
//
//   - insert_events/s: the column inserts of the dataset (500k rows each);
//   - read_events/s: one SELECT of every row of the columns a run reads, unsorted,
//     streamed as column blocks (chstream), nothing done with them: the read a run
//     stands on;
//   - scan_events/s: the same SELECT through clickhouse-go's row Scan;
//   - run_events/s: rows / duration of Trigger until the run is published
//     (cutoff, plan, chunk reads, grouping, fold, score, batch_view inserts, publish);
//   - run_vs_read: run_events/s ÷ read_events/s (goal ≥ 0.7);
//   - read_ch_cpu_µs/event, read_go_cpu_µs/event, run_ch_cpu_µs/event,
//     run_go_cpu_µs/event: the CPU time the read and the run cost per event, in the
//     ClickHouse server (when it runs on this machine) and in this process;
//   - plan_ch_cpu_µs/event: what the run's plan (the cutoff's as_of, row count and
//     chunk boundaries: one scan) costs ClickHouse of that, measured on its own.
func BenchmarkRun(b *testing.B) {
	f, total, insertT := benchDataset(b)
	scanT := scanRead(b, f)

	r, err := batchrun.New(b.Context(), batchrun.Deps{
		Postgres: f.Postgres, ClickHouse: f.ClickHouse, Events: f.Events, Models: &models{f: f},
		Coverage: batchrun.CoverageFunc(func(context.Context) (map[int]int64, error) { return f.frozen, nil }),
	}, batchrun.Config{Database: f.Database})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var runT, readT time.Duration
	var read, plan, run cpu // CPU time spent by ClickHouse and by this process
	for b.Loop() {          // the read and the run side by side, under the same load
		before := now()
		readT += rawRead(b, f)
		read.add(before)
		before = now()
		if _, err := f.Events.Plan(b.Context(), master.CutoffFromCoverage(f.frozen, -1), batchrun.DefaultChunkRows); err != nil {
			b.Fatal(err)
		}
		plan.add(before)
		before = now()
		start := time.Now()
		published, _, err := r.Trigger(b.Context(), runs.TriggerCLI, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if published, err = r.Wait(b.Context(), published.ID); err != nil || published.Status != runs.StatusPublished {
			b.Fatalf("run %d: %s %s %v", published.ID, published.Status, published.Error, err)
		}
		runT += time.Since(start)
		run.add(before)
		if published.EventsRead != int64(total) {
			b.Fatalf("run read %d events, want %d", published.EventsRead, total)
		}
	}
	rate := func(d time.Duration) float64 { return float64(total) / d.Seconds() }
	rates := func(d time.Duration) float64 { return float64(total) * float64(b.N) / d.Seconds() }
	runRate := rates(runT)
	b.ReportMetric(rate(insertT), "insert_events/s")
	b.ReportMetric(rates(readT), "read_events/s")
	b.ReportMetric(rate(scanT), "scan_events/s")
	b.ReportMetric(runRate, "run_events/s")
	b.ReportMetric(runRate/rates(readT), "run_vs_read")
	events := float64(total) * float64(b.N)
	b.ReportMetric(read.clickhouse.Seconds()*1e6/events, "read_ch_cpu_µs/event")
	b.ReportMetric(read.self.Seconds()*1e6/events, "read_go_cpu_µs/event")
	b.ReportMetric(plan.clickhouse.Seconds()*1e6/events, "plan_ch_cpu_µs/event")
	b.ReportMetric(run.clickhouse.Seconds()*1e6/events, "run_ch_cpu_µs/event")
	b.ReportMetric(run.self.Seconds()*1e6/events, "run_go_cpu_µs/event")
}

// cpu is CPU time spent by the local ClickHouse server and by this process.
type cpu struct{ clickhouse, self time.Duration }

func now() cpu { return cpu{testenv.ServerCPU(testenv.ClickHouseComm), testenv.SelfCPU()} }

// add adds the CPU time spent since before.
func (c *cpu) add(before cpu) {
	after := now()
	c.clickhouse += after.clickhouse - before.clickhouse
	c.self += after.self - before.self
}

// benchDataset generates the benchmarks' master dataset: LAMBDA_BENCH_EVENTS (default
// 5 million) demo events of 100k entities in 6 partitions, every one archived; it
// returns the fixture, the event count and the time of the inserts.
func benchDataset(b *testing.B) (*fixture, int, time.Duration) {
	total := 5_000_000
	if v := os.Getenv(benchEventsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("%s=%q: %v", benchEventsEnv, v, err)
		}
		total = n
	}
	f := &fixture{Env: mastertest.New(b), spec: features.DefaultSpec(), next: map[int]int64{}}
	f.model = mastertest.Model(b, mastertest.LR(f.spec.Len()), f.spec)

	g := demogen.New(demogen.Config{Entities: 100_000, Seed: 1})
	const chunk = 500_000
	const parts = 6
	var (
		rows     master.Rows
		insertT  time.Duration
		produced int
	)
	for produced < total {
		rows.Reset()
		for range min(chunk, total-produced) {
			e := g.Next()
			p := int(produced % parts)
			rows.Append(int32(p), f.next[p], e, time.Time{})
			f.next[p]++
			produced++
		}
		start := time.Now()
		if err := f.Events.Insert(b.Context(), &rows); err != nil {
			b.Fatal(err)
		}
		insertT += time.Since(start)
	}
	f.frozen = map[int]int64{}
	for p := range parts {
		f.frozen[p] = f.next[p]
	}
	return f, total, insertT
}

// BenchmarkShardedRun runs the dataset of BenchmarkRun (LAMBDA_BENCH_EVENTS) once
// with 1, 2 and 4 shards worked by goroutines (each shard folding Config.Parallel
// chunks at once) and reports each run's seconds, Trigger until published.
func BenchmarkShardedRun(b *testing.B) {
	f, total, _ := benchDataset(b)
	for b.Loop() {
		for _, shards := range []int{1, 2, 4} {
			r, err := batchrun.New(b.Context(), batchrun.Deps{
				Postgres: f.Postgres, ClickHouse: f.ClickHouse, Events: f.Events, Models: &models{f: f},
				Coverage: batchrun.CoverageFunc(func(context.Context) (map[int]int64, error) { return f.frozen, nil }),
			}, batchrun.Config{Database: f.Database, Shards: shards})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			run, _, err := r.Trigger(b.Context(), runs.TriggerCLI, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if run, err = r.Wait(b.Context(), run.ID); err != nil || run.Status != runs.StatusPublished || run.EventsRead != int64(total) {
				b.Fatalf("run %d of %d shards: %s %s, %d events, %v", run.ID, shards, run.Status, run.Error, run.EventsRead, err)
			}
			b.ReportMetric(time.Since(start).Seconds(), "run_"+strconv.Itoa(shards)+"_shards_s")
			b.ReportMetric(run.CPUSeconds, "cpu_"+strconv.Itoa(shards)+"_shards_s")
			r.Close()
		}
	}
}

// benchColumns are the columns a run reads.
const benchColumns = "entity_id, event_id, type, ts_us, value, has_value, attrs_keys, attrs_values, kafka_partition, kafka_offset"

// rawRead streams every row of the run's columns as column blocks into the columns
// a run decodes into (chstream's), emptied after each block, and returns the time.
func rawRead(b *testing.B, f *fixture) time.Duration {
	var (
		ent, id, typ chstream.Strings
		ts, off      chstream.Fixed[int64]
		val          chstream.Fixed[float64]
		has          chstream.Fixed[uint8]
		keys, vals   chstream.StringArrays
		part         chstream.Fixed[int32]
	)
	res := proto.Results{
		{Name: "entity_id", Data: &ent}, {Name: "event_id", Data: &id}, {Name: "type", Data: &typ},
		{Name: "ts_us", Data: &ts}, {Name: "value", Data: &val}, {Name: "has_value", Data: &has},
		{Name: "attrs_keys", Data: &keys}, {Name: "attrs_values", Data: &vals},
		{Name: "kafka_partition", Data: &part}, {Name: "kafka_offset", Data: &off},
	}
	start := time.Now()
	err := chstream.Select(b.Context(), f.Stream, "", "SELECT "+benchColumns+" FROM "+f.Events.Table(), res,
		func(int) error {
			for _, r := range res {
				r.Data.(interface{ Truncate() }).Truncate()
			}
			return nil
		})
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// scanRead reads the same rows through clickhouse-go's row API.
func scanRead(b *testing.B, f *fixture) time.Duration {
	start := time.Now()
	rows, err := f.ClickHouse.Query(b.Context(), "SELECT "+benchColumns+" FROM "+f.Events.Table())
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var (
		ent, id, typ string
		ts, off      int64
		val          float64
		has          uint8
		keys, vals   []string
		part         int32
	)
	for rows.Next() {
		if err := rows.Scan(&ent, &id, &typ, &ts, &val, &has, &keys, &vals, &part, &off); err != nil {
			b.Fatal(err)
		}
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
