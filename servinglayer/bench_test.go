package servinglayer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
)

// Load of BenchmarkServing; LAMBDA_BENCH_RATE and LAMBDA_BENCH_SECONDS override them.
const (
	benchEntities = 10_000
	benchRate     = 5000 // requests per second offered
	benchSeconds  = 3
	benchWorkers  = 64 // concurrent requests at most
)

// BenchmarkServing offers requests at a fixed rate on loopback, open loop (latency is
// measured from when a request was issued, including any wait for a free worker, so a
// slow answer does not hide the queue behind it), and reports p50/p99/p99.9 latency
// per scenario:
//
//   - merged: GET /v1/entities/{id}/prediction of random entities, the batch view cached
//     (every entity has a batch row, half of them a speed row ahead of it);
//   - postgres: the bare speed_view point query of the same entities through pgx, the
//     floor under the merged lookup's PostgreSQL read;
//   - merged-uncached: the merged lookup right after a publish, every entity read from
//     ClickHouse once, at a fiftieth of the rate;
//   - infer: POST /v2/models/{name}/infer of one row of 15 features.
//
// The API and the load generator share the machine's cores. Run it with
// go test -run '^$' -bench BenchmarkServing ./servinglayer/
func BenchmarkServing(b *testing.B) {
	rate, seconds := envInt("LAMBDA_BENCH_RATE", benchRate), envInt("LAMBDA_BENCH_SECONDS", benchSeconds)
	s := newStack(b, stackOptions{})
	ctx := context.Background()
	run := s.publish([]int64{5000, 5000, 5000}, time.Now().Add(-time.Minute))
	seedBench(b, s, run)
	fp32 := ortenv.ONNX(b, logistic(len(featureNames), 1))
	if _, err := s.models.Register(ctx, "bench", featureNames, registry.File{Variant: registry.FP32, ONNX: fp32}); err != nil {
		b.Fatal(err)
	}
	if err := s.models.Activate(ctx, "bench", 1); err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: benchWorkers, MaxIdleConnsPerHost: benchWorkers}}
	get := func(path string) error { return call(client, http.MethodGet, s.url+path, "") }
	entity := func(i int) string { return "e-" + strconv.Itoa((i*7919)%benchEntities) }
	for i := range benchEntities { // warm the batch view cache, as hot lookups find it
		if err := get(entityPath(entity(i), "prediction")); err != nil {
			b.Fatal(err)
		}
	}
	row := make([]float32, len(featureNames))
	infer := inferBody("features", row)
	if err := call(client, http.MethodPost, s.url+"/v2/models/bench/infer", infer); err != nil { // load the model
		b.Fatal(err)
	}

	scenarios := []struct {
		name string
		rate int
		req  func(i int) error
	}{
		{"merged", rate, func(i int) error { return get(entityPath(entity(i), "prediction")) }},
		{"postgres", rate, func(i int) error {
			var score float32
			err := s.pg.QueryRow(ctx, "SELECT coalesce(score, 0) FROM speed_view WHERE entity_id = $1", entity(i)).Scan(&score)
			if errors.Is(err, pgx.ErrNoRows) { // half the entities have no speed row
				return nil
			}
			return err
		}},
		{"merged-uncached", max(1, rate/50), func(i int) error { return get(entityPath(entity(i), "prediction")) }},
		{"infer", rate, func(int) error { return call(client, http.MethodPost, s.url+"/v2/models/bench/infer", infer) }},
	}
	for _, sc := range scenarios {
		if sc.name == "merged-uncached" {
			run = s.publish([]int64{5000, 5000, 5000}, time.Now().Add(-time.Minute))
			seedBatch(b, s, run)
		}
		b.Run(sc.name, func(b *testing.B) {
			for range b.N {
				lat, errs := offer(sc.rate, time.Duration(seconds)*time.Second, sc.req)
				if errs > 0 {
					b.Fatalf("%d of %d requests failed", errs, len(lat))
				}
				slices.Sort(lat)
				pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
				b.ReportMetric(pct(0.50), "p50-µs")
				b.ReportMetric(pct(0.99), "p99-µs")
				b.ReportMetric(pct(0.999), "p99.9-µs")
				b.ReportMetric(float64(sc.rate), "req/s")
			}
		})
	}
}

// seedBench writes a batch row of every bench entity for run, and speed rows for half
// of them, covering more of the log for every other one.
func seedBench(b *testing.B, s *stack, run int64) {
	b.Helper()
	seedBatch(b, s, run)
	vec := make([]string, len(featureNames))
	for i := range vec {
		vec[i] = "0.5"
	}
	if _, err := s.pg.Exec(context.Background(), `INSERT INTO speed_view (entity_id, base_run_id, kafka_partition, covered_offset,
		last_event_at, as_of, delta_state, vector, score, model_name, model_version)
		SELECT 'e-' || i, $1, i % 3, 4999 + i % 4, now(), now(), '\x01', '{`+strings.Join(vec, ",")+`}', 0.5, 'demo', 1
		FROM generate_series(0, $2 - 1, 2) i`, run, benchEntities); err != nil {
		b.Fatal(err)
	}
}

func seedBatch(b *testing.B, s *stack, run int64) {
	b.Helper()
	batch, err := s.ch.PrepareBatch(context.Background(), "INSERT INTO `"+s.db+"`.batch_view (run_id, entity_id, kafka_partition, "+
		"covered_offset, last_event_us, as_of_us, state, vector, score, model_name, model_version, written_at)")
	if err != nil {
		b.Fatal(err)
	}
	now, vec := time.Now(), make([]float32, len(featureNames))
	for i := range benchEntities {
		if err := batch.Append(uint64(run), "e-"+strconv.Itoa(i), int32(i%3), int64(5000), now.UnixMicro(), now.UnixMicro(),
			"state", vec, float32(0.25), "demo", uint32(1), now); err != nil {
			b.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		b.Fatal(err)
	}
}

// offer calls req(i) for i = 0, 1, ... at rate per second for d, from up to benchWorkers
// goroutines, and returns each call's latency from when it was issued and the failures.
func offer(rate int, d time.Duration, req func(i int) error) ([]time.Duration, int) {
	type job struct {
		i      int
		issued time.Time
	}
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	lat := make([]time.Duration, n)
	jobs := make(chan job, n)
	var (
		failed atomic.Int64
		wg     sync.WaitGroup
	)
	for range benchWorkers {
		wg.Go(func() {
			for j := range jobs {
				if err := req(j.i); err != nil {
					failed.Add(1)
				}
				lat[j.i] = time.Since(j.issued)
			}
		})
	}
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- job{i, time.Now()}
	}
	close(jobs)
	wg.Wait()
	return lat, int(failed.Load())
}

// call sends a request and reads the whole answer; a status other than 200 is an error.
func call(client *http.Client, method, url, body string) error {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s %s: status %d: %s", method, url, resp.StatusCode, b)
	}
	return err
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}
