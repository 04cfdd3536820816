package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// BenchmarkGrowth's grid and load; LAMBDA_GROWTH_POINTS overrides the grid, a comma
// list of events/entities with k and M suffixes.
const (
	growthPoints     = "1M/100k,3M/300k,10M/100k,10M/1M,1M/1M"
	growthSpeedMax   = 100_000 // events after the cutoff: 1% of the point's, at most this
	growthSpeedRate  = 20_000  // events per second of the stream after the cutoff
	growthLookupRate = 2000    // requests per second offered
	growthLookupSecs = 10      // measured, after a warm-up of growthWarmSecs
	growthWarmSecs   = 3
	growthLookupIDs  = 20_000 // random entities of the batch view asked for
)

// BenchmarkGrowth measures how the platform's cost grows with the master dataset and
// the entity count, one sub-benchmark per point (events, entities) of the grid, each on
// a platform of its own (fresh databases; `lambda up` processes by role):
//
//  1. `lambda produce` writes the point's demo events (skewed activity: at 1M events
//     of 1M entities many entities have none) to the broker, and the archiver appends
//     them to the master dataset; the time both took is logged;
//  2. `lambda batch run`, in its own process, folds and scores every archived event
//     with the active model: run_s is its wall time, run_cpu_s its CPU time (not
//     ClickHouse's, which sorts and sends the chunks), batch_rss_MiB its peak
//     resident memory (rusage), run_events/s the recorded run's rate (events read
//     over started→finished, as BenchmarkRun and BenchmarkReplayVsBatch report it);
//  3. an API process (`lambda up --roles api`) loads the published view, then a live
//     stream of 1% of the point's events (at most growthSpeedMax, growthSpeedRate per
//     second) of the same entities goes to a speed process (`--roles speed`);
//     speed_rss_MiB and api_rss_MiB are their peak resident memory (VmHWM) at the end,
//     with Go's default GC (LAMBDA_GC_HEADROOM_MB=0; `up`'s default of 512 MB of
//     headroom would fill either process with up to that much garbage at any size);
//  4. vegeta, from its own process, asks the API for the merged prediction of random
//     entities of the batch view at growthLookupRate per second (p50-ms, p99-ms),
//     then for GET /v2/health/live at the same rate (live-p99-ms: the machine's HTTP
//     floor in the same minute, to read p99-ms against);
//  5. speed_view_MiB is the PostgreSQL table with its indexes and TOAST
//     (pg_total_relation_size), batch_view_MiB the run's partition on disk in
//     ClickHouse (batch_runs.bytes_stored).
//
// The figures are reported under the same names at every point (the point is in the
// sub-benchmark's name) and printed as one markdown table at the end. It needs vegeta
// ($LAMBDA_VEGETA, or .cache/bin/vegeta: `make vegeta`).
func BenchmarkGrowth(b *testing.B) {
	spec := os.Getenv("LAMBDA_GROWTH_POINTS")
	if spec == "" {
		spec = growthPoints
	}
	points, err := parseGrowthPoints(spec)
	if err != nil {
		b.Fatalf("LAMBDA_GROWTH_POINTS: %v", err)
	}
	vegeta := vegetaBin(b)
	var rows []growthRow
	for _, p := range points {
		b.Run(p.name(), func(b *testing.B) {
			for range b.N {
				r := measureGrowth(b, vegeta, p)
				r.report(b)
				rows = append(rows, r)
			}
		})
	}
	// Printed whole (a benchmark's log is cut after a few lines).
	fmt.Print(growthTable(rows))
}

// growthPoint is one point of the grid.
type growthPoint struct {
	events, entities   string // as written: "1M", "100k"
	nEvents, nEntities int
}

func (p growthPoint) name() string { return p.events + "_" + p.entities }

// parseGrowthPoints parses a comma list of events/entities, such as "1M/100k,200k/20k".
func parseGrowthPoints(spec string) ([]growthPoint, error) {
	var points []growthPoint
	for item := range strings.SplitSeq(spec, ",") {
		ev, ent, ok := strings.Cut(strings.TrimSpace(item), "/")
		if !ok {
			return nil, fmt.Errorf("point %q: want events/entities", item)
		}
		events, err := parseCount(ev)
		if err != nil {
			return nil, fmt.Errorf("point %q: %w", item, err)
		}
		entities, err := parseCount(ent)
		if err != nil {
			return nil, fmt.Errorf("point %q: %w", item, err)
		}
		points = append(points, growthPoint{events: ev, entities: ent, nEvents: events, nEntities: entities})
	}
	return points, nil
}

// parseCount parses a positive count with an optional k (thousand) or M (million) suffix.
func parseCount(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"):
		s, mult = strings.TrimSuffix(s, "k"), 1_000
	case strings.HasSuffix(s, "M"):
		s, mult = strings.TrimSuffix(s, "M"), 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("count %q: want a positive number with an optional k or M", s)
	}
	return n * mult, nil
}

// growthRow is what BenchmarkGrowth measured at one point.
type growthRow struct {
	point                      growthPoint
	entitiesScored             int64
	runWall                    time.Duration // the `lambda batch run` process
	runCPU                     time.Duration
	runRate                    float64 // events/s of the recorded run
	batchRSS, speedRSS, apiRSS int64   // peak resident bytes
	speedView, batchView       int64   // bytes
	speedEvents                int
	p50, p99, liveP99          time.Duration
}

func (r growthRow) report(b *testing.B) {
	b.ReportMetric(r.runWall.Seconds(), "run_s")
	b.ReportMetric(r.runCPU.Seconds(), "run_cpu_s")
	b.ReportMetric(r.runRate, "run_events/s")
	b.ReportMetric(mib(r.batchRSS), "batch_rss_MiB")
	b.ReportMetric(mib(r.speedRSS), "speed_rss_MiB")
	b.ReportMetric(mib(r.apiRSS), "api_rss_MiB")
	b.ReportMetric(mib(r.speedView), "speed_view_MiB")
	b.ReportMetric(mib(r.batchView), "batch_view_MiB")
	b.ReportMetric(ms(r.p50), "p50-ms")
	b.ReportMetric(ms(r.p99), "p99-ms")
	b.ReportMetric(ms(r.liveP99), "live-p99-ms")
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// growthTable is the rows as a markdown table.
func growthTable(rows []growthRow) string {
	var s strings.Builder
	s.WriteString("| events | entities (in the view) | batch run s (CPU s) | run events/s | peak RSS batch / speed / api MiB | speed view MiB (events) | batch view MiB | lookup p50 / p99 ms (live p99) |\n")
	s.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&s, "| %s | %s (%d) | %.1f (%.1f) | %.0f | %.0f / %.0f / %.0f | %.1f (%d) | %.1f | %.1f / %.1f (%.1f) |\n",
			r.point.events, r.point.entities, r.entitiesScored,
			r.runWall.Seconds(), r.runCPU.Seconds(), r.runRate, mib(r.batchRSS), mib(r.speedRSS), mib(r.apiRSS),
			mib(r.speedView), r.speedEvents, mib(r.batchView), ms(r.p50), ms(r.p99), ms(r.liveP99))
	}
	return s.String()
}

// measureGrowth builds a platform holding point p and measures it.
func measureGrowth(b *testing.B, vegeta string, p growthPoint) growthRow {
	ctx, cancel := context.WithTimeout(b.Context(), 30*time.Minute)
	defer cancel()
	row := growthRow{point: p, speedEvents: min(p.nEvents/100, growthSpeedMax)}
	pool, env, _ := freshPlatform(b)
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_METRICS_ADDR=127.0.0.1:0", "LAMBDA_GC_HEADROOM_MB=0")
	run(b, ctx, env, "migrate")
	run(b, ctx, env, "model", "train", "--activate", "--events", "200000", "--entities", "20000")
	database := envValue(env, "LAMBDA_CLICKHOUSE_DATABASE")
	ch, err := store.OpenClickHouse(ctx, testenv.ClickHouseStream(database).Addr, database, store.ClickHouseAuth{})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Close()

	// The master dataset, the way events reach it: through Kafka and the archiver.
	log := start(b, env, "up", "--roles", "broker,archiver")
	brokers := log.waitLine(b, "kafka", time.Minute)
	env = append(env, "LAMBDA_KAFKA_EMBEDDED_ADDR="+brokers)
	began := time.Now()
	run(b, ctx, env, "produce", "--seed", "51", "--entities", strconv.Itoa(p.nEntities), "--events", strconv.Itoa(p.nEvents), "--kafka-brokers", brokers)
	produced := time.Since(began)
	waitCommittedFor(b, ctx, brokers, e2eArchiver, 20*time.Minute)
	archived := time.Since(began)
	var (
		bytes uint64
		parts uint64
	)
	if err := ch.QueryRow(ctx, "SELECT sum(bytes_on_disk), count() FROM system.parts WHERE database = ? AND table = 'events' AND active",
		database).Scan(&bytes, &parts); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d events of %d entities produced in %s, archived in %s: %.0f MiB in %d active parts", p.nEvents, p.nEntities,
		produced.Round(100*time.Millisecond), archived.Round(100*time.Millisecond), mib(int64(bytes)), parts)

	began = time.Now()
	out, state := runState(b, ctx, env, "batch", "run", "--kafka-brokers", brokers)
	row.runWall = time.Since(began)
	row.runCPU = state.UserTime() + state.SystemTime()
	row.batchRSS = state.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	r := publishedRun(b, ctx, pool, out)
	if r.EventsRead != int64(p.nEvents) {
		b.Fatalf("run %d read %d events, want %d", r.ID, r.EventsRead, p.nEvents)
	}
	row.runRate = float64(r.EventsRead) / r.FinishedAt.Sub(r.StartedAt).Seconds()
	row.entitiesScored, row.batchView = r.EntitiesScored, r.BytesStored

	// After the cutoff: a live stream of the same entities, folded by the speed layer.
	speed := start(b, env, "up", "--roles", "speed")
	api := start(b, env, "up", "--roles", "api")
	url := api.waitLine(b, "api", time.Minute)
	waitServed(b, url, 0, 10*time.Minute)
	began = time.Now()
	run(b, ctx, env, "produce", "--seed", "52", "--entities", strconv.Itoa(p.nEntities), "--events", strconv.Itoa(row.speedEvents),
		"--rate", strconv.Itoa(growthSpeedRate), "--kafka-brokers", brokers)
	waitCommittedFor(b, ctx, brokers, e2eSpeed, 10*time.Minute)
	b.Logf("%d events after the cutoff produced at %d/s and folded by the speed layer in %s", row.speedEvents, growthSpeedRate,
		time.Since(began).Round(100*time.Millisecond))

	row.p50, row.p99, row.liveP99 = lookupLatency(b, ctx, vegeta, url, ch, r.ID)
	row.speedRSS = procMemory(b, speed.cmd.Process.Pid, "VmHWM")
	row.apiRSS = procMemory(b, api.cmd.Process.Pid, "VmHWM")
	if err := pool.QueryRow(ctx, "SELECT pg_total_relation_size('speed_view')").Scan(&row.speedView); err != nil {
		b.Fatal(err)
	}
	for _, proc := range []*process{api, speed, log} {
		proc.stop(b, time.Minute)
	}
	return row
}

// lookupLatency offers merged lookups of random entities of run's batch view (in ch's
// database) to the API at url, growthLookupRate per second for growthLookupSecs after
// a warm-up of growthWarmSecs, then GET /v2/health/live (the machine's HTTP floor) as
// long at the same rate, and returns the lookups' p50 and p99 and the floor's p99;
// failed requests fail the benchmark.
func lookupLatency(b *testing.B, ctx context.Context, vegeta, url string, ch driver.Conn, run int64) (p50, p99, live time.Duration) {
	targets := predictionTargets(b, ctx, ch, url, "SELECT entity_id FROM batch_view WHERE run_id = ? ORDER BY rand() LIMIT ?",
		uint64(run), uint64(growthLookupIDs))
	dir := b.TempDir()
	lookups, floor := filepath.Join(dir, "lookups.txt"), filepath.Join(dir, "live.txt")
	writeTargets(b, lookups, targets)
	writeTargets(b, floor, []string{"GET " + url + "/v2/health/live"})
	attack(b, vegeta, lookups, growthLookupRate, growthWarmSecs*time.Second)
	m := attack(b, vegeta, lookups, growthLookupRate, growthLookupSecs*time.Second)
	l := attack(b, vegeta, floor, growthLookupRate, growthLookupSecs*time.Second)
	for name, res := range map[string][]vegetaResult{"lookups": m, "live": l} {
		if n := failures(res); n > 0 {
			b.Errorf("%s: %d of %d requests failed, the first: %s", name, n, len(res), firstFailure(res))
		}
	}
	return percentile(m, 0.5), percentile(m, 0.99), percentile(l, 0.99)
}
