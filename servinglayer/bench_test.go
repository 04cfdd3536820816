package servinglayer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/gctune"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/servinglayer/predict"
)

// Load of BenchmarkServing; LAMBDA_BENCH_RATE and LAMBDA_BENCH_SECONDS override them.
const (
	benchRate    = 5000 // requests per second offered
	benchSeconds = 5
	benchWorkers = 64 // concurrent requests at most
)

// benchEntities is how many entities the bench's run holds, all loaded before the
// clock starts ($LAMBDA_BENCH_ENTITIES).
var benchEntities = envInt("LAMBDA_BENCH_ENTITIES", 100_000)

// BenchmarkServing offers requests at a fixed rate on loopback, open loop (latency is
// measured from when a request was issued, including any wait for a free worker, so a
// slow answer does not hide the queue behind it), and reports p50/p99/p99.9 latency
// per scenario:
//
//   - live: GET /v2/health/live, the floor: the HTTP round trip and the API's
//     middleware (authorization, validation, metrics) with no work behind it;
//   - merged: GET /v1/entities/{id}/prediction of random entities (every entity has a
//     batch row, in the loaded batch store, half of them a speed row ahead of it);
//   - postgres: the bare speed_view point query of the same entities through pgx, the
//     floor under the merged lookup's PostgreSQL read;
//   - infer: POST /v2/models/{name}/infer of one row of 15 features.
//
// BenchmarkUp (tests/) measures the same against `lambda up`, across a batch publish.
//
// The load comes from another process, this test binary run again as a load generator
// with its garbage collector off (its own pauses are not the API's latency), so the
// API's process collects only its own garbage, as a deployed `lambda serve` does. The
// two processes and the databases share the machine's cores. server-B/req and
// server-GCs are the API process's allocation per request and collections during the
// scenario. Run it with go test -run '^$' -bench BenchmarkServing ./servinglayer/
func BenchmarkServing(b *testing.B) {
	rate, seconds := envInt("LAMBDA_BENCH_RATE", benchRate), envInt("LAMBDA_BENCH_SECONDS", benchSeconds)
	s, _ := newBenchStack(b)
	defer gctune.Start(gctune.DefaultHeadroomMB << 20)() // as `lambda serve` does
	for _, sc := range []struct {
		name string
		rate int
	}{{"live", rate}, {"merged", rate}, {"postgres", rate}, {"infer", rate}} {
		b.Run(sc.name, func(b *testing.B) {
			for range b.N {
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				res := generateLoad(b, load{Scenario: sc.name, URL: s.url, PostgresURL: s.pgURL, Rate: sc.rate, Seconds: seconds})
				runtime.ReadMemStats(&m1)
				if res.Failed > 0 {
					b.Fatalf("%d of %d requests failed, the first: %s", res.Failed, len(res.Latencies), res.FirstError)
				}
				lat := res.Latencies
				slices.Sort(lat)
				pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
				b.ReportMetric(pct(0.50), "p50-µs")
				b.ReportMetric(pct(0.99), "p99-µs")
				b.ReportMetric(pct(0.999), "p99.9-µs")
				b.ReportMetric(float64(sc.rate), "req/s")
				if sc.name != "postgres" {
					b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/float64(len(lat)), "server-B/req")
					b.ReportMetric(float64(m1.NumGC-m0.NumGC), "server-GCs")
				}
			}
		})
	}
}

// loadEnv carries a load's JSON to the load generator process.
const loadEnv = "LAMBDA_BENCH_LOAD"

// load is what the load generator process offers.
type load struct {
	Scenario    string
	URL         string // the API's
	PostgresURL string // the postgres scenario's database
	Rate        int
	Seconds     int
}

// loadResult is what the load generator process measured.
type loadResult struct {
	Latencies  []time.Duration
	Failed     int
	FirstError string
}

// generateLoad runs this test binary as the load generator of l and returns its result.
func generateLoad(b *testing.B, l load) loadResult {
	b.Helper()
	spec, err := json.Marshal(l)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), loadEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("load generator: %v", err)
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("load generator's result: %v", err)
	}
	return res
}

// generateLoadMain is the load generator process: it offers the load of $LAMBDA_BENCH_LOAD
// and writes its loadResult to standard output.
func generateLoadMain(spec string) error {
	var l load
	if err := json.Unmarshal([]byte(spec), &l); err != nil {
		return fmt.Errorf("%s: %w", loadEnv, err)
	}
	// No collections of ours while measuring (5 s allocate ~100 MB), unless a long run
	// reaches 1 GiB.
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(1 << 30)
	ctx := context.Background()
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: benchWorkers, MaxIdleConnsPerHost: benchWorkers}}
	var req func(i int) error
	switch l.Scenario {
	case "merged":
		req = func(i int) error {
			return call(client, http.MethodGet, l.URL+entityPath(benchEntity(i), "prediction"), "")
		}
	case "live":
		req = func(int) error { return call(client, http.MethodGet, l.URL+"/v2/health/live", "") }
	case "infer":
		body := benchInferBody()
		req = func(int) error { return call(client, http.MethodPost, l.URL+"/v2/models/bench/infer", body) }
	case "postgres":
		pg, err := store.OpenPostgres(ctx, l.PostgresURL)
		if err != nil {
			return err
		}
		defer pg.Close()
		req = func(i int) error {
			var score float32
			err := pg.QueryRow(ctx, "SELECT coalesce(score, 0) FROM speed_view WHERE entity_id = $1", benchEntity(i)).Scan(&score)
			if errors.Is(err, pgx.ErrNoRows) { // half the entities have no speed row
				return nil
			}
			return err
		}
	default:
		return fmt.Errorf("no load scenario %q", l.Scenario)
	}
	var warm errgroup.Group // every worker's connection open before the clock starts
	for i := range benchWorkers {
		warm.Go(func() error { return req(i) })
	}
	if err := warm.Wait(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(offer(l.Rate, time.Duration(l.Seconds)*time.Second, req))
}

// BenchmarkHandler is the API's own work per request, without the network: the
// handler chain of a warm merged lookup and of a one-row infer, with allocations.
func BenchmarkHandler(b *testing.B) {
	s, _ := newBenchStack(b)
	for _, sc := range []struct{ name, method, path, body string }{
		{"merged", http.MethodGet, entityPath(benchEntity(1), "prediction"), ""},
		{"infer", http.MethodPost, "/v2/models/bench/infer", benchInferBody()},
	} {
		b.Run(sc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(sc.method, sc.path, strings.NewReader(sc.body))
				if sc.body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				rec := httptest.NewRecorder()
				s.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s %s: status %d: %s", sc.method, sc.path, rec.Code, rec.Body)
				}
			}
		})
	}
}

// newBenchStack returns the API serving a published run of benchEntities entities, half
// of them with speed rows, and the active model "bench" loaded; run is the published run.
func newBenchStack(b *testing.B) (s *stack, run int64) {
	b.Helper()
	s = newStack(b, stackOptions{})
	run = s.publish([]int64{5000, 5000, 5000}, time.Now().Add(-time.Minute).UTC(), benchRows()...)
	seedSpeed(b, s, run)
	benchModel(b, s)
	return s, run
}

// benchModel registers, activates and loads the model "bench" of the default spec's
// features on s, and returns its fp32 file.
func benchModel(b *testing.B, s *stack) []byte {
	b.Helper()
	ctx := context.Background()
	fp32 := ortenv.ONNX(b, logistic(len(featureNames), 1))
	if _, err := s.models.Register(ctx, "bench", featureNames, registry.File{Variant: registry.FP32, ONNX: fp32}); err != nil {
		b.Fatal(err)
	}
	if err := s.models.Activate(ctx, "bench", 1); err != nil {
		b.Fatal(err)
	}
	if err := call(s.client, http.MethodPost, s.url+"/v2/models/bench/infer", benchInferBody()); err != nil {
		b.Fatal(err)
	}
	return fp32
}

// BenchmarkInfer is the inference hot path through the handler chain, without the
// network, with allocations: 1 and 64 rows of 15 features as JSON (the scores as JSON)
// and with the binary tensor data extension (the scores binary too), next to the bare
// model calls the handler makes on the same model (ScoreOne for one row, ScoreFlat for
// more). The handler's overhead is the difference.
func BenchmarkInfer(b *testing.B) {
	s := newStack(b, stackOptions{})
	fp32 := benchModel(b, s)
	m, err := inference.LoadModel(fp32, inference.Meta{Name: "bench", Version: 1}, inference.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	width := len(featureNames)
	for _, n := range []int{1, 64} {
		rows := make([][]float32, n)
		for i := range rows {
			rows[i] = make([]float32, width)
			for j := range rows[i] {
				rows[i][j] = float32(i+j) / 10
			}
		}
		x := slices.Concat(rows...)
		header := fmt.Sprintf(`{"inputs":[{"name":"features","shape":[%d,%d],"datatype":"FP32","parameters":{"binary_data_size":%d}}],`+
			`"parameters":{"binary_data_output":true}}`, n, width, 4*len(x))
		for _, sc := range []struct {
			name   string
			body   []byte
			header []string
		}{
			{"json", []byte(inferBody("features", rows...)), []string{"Content-Type", "application/json"}},
			{"binary", append([]byte(header), le32(rows...)...), []string{"Inference-Header-Content-Length", strconv.Itoa(len(header))}},
		} {
			b.Run(fmt.Sprintf("rows=%d/%s", n, sc.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					req := httptest.NewRequest(http.MethodPost, "/v2/models/bench/infer", bytes.NewReader(sc.body))
					req.Header.Set(sc.header[0], sc.header[1])
					rec := httptest.NewRecorder()
					s.handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
		}
		b.Run(fmt.Sprintf("rows=%d/bare-model", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if n == 1 {
					_, err = m.ScoreOne(b.Context(), x)
				} else {
					_, err = m.ScoreFlat(b.Context(), x, width)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchEntity is the entity of the i-th request, spread over the bench entities.
func benchEntity(i int) string { return "e-" + strconv.Itoa((i*7919)%benchEntities) }

// benchInferBody is an infer request of one row.
func benchInferBody() string { return inferBody("features", make([]float32, len(featureNames))) }

// benchRows are the batch rows of every bench entity.
func benchRows() []predict.BatchRow {
	asOf, vec := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond), make([]float32, len(featureNames))
	rows := make([]predict.BatchRow, benchEntities)
	for i := range rows {
		rows[i] = predict.BatchRow{EntityID: "e-" + strconv.Itoa(i), Coverage: predict.Coverage{Partition: int32(i % 3), Offset: 5000, LastEvent: asOf},
			AsOf: asOf, Vector: vec, Score: 0.25, ModelName: "demo", ModelVersion: 1}
	}
	return rows
}

// seedSpeed writes speed rows for half of the bench entities, covering more of the log
// than the batch rows for every other one.
func seedSpeed(b *testing.B, s *stack, run int64) {
	b.Helper()
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

// offer calls req(i) for i = 0, 1, ... at rate per second for d, from up to benchWorkers
// goroutines, and returns each call's latency from when it was issued and the failures.
func offer(rate int, d time.Duration, req func(i int) error) loadResult {
	type job struct {
		i      int
		issued time.Time
	}
	n := int(float64(rate) * d.Seconds())
	interval := time.Second / time.Duration(rate)
	res := loadResult{Latencies: make([]time.Duration, n)}
	jobs := make(chan job, n)
	var (
		mu sync.Mutex // guards res.Failed and res.FirstError
		wg sync.WaitGroup
	)
	for range benchWorkers {
		wg.Go(func() {
			for j := range jobs {
				if err := req(j.i); err != nil {
					mu.Lock()
					if res.Failed++; res.Failed == 1 {
						res.FirstError = err.Error()
					}
					mu.Unlock()
				}
				res.Latencies[j.i] = time.Since(j.issued)
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
	return res
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
