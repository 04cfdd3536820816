package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
	"github.com/lambda-platform/lambda/internal/tradeoffs"
)

// workload is what a trade-offs scenario offers the platform for tradeoffsWindow.
type workload struct {
	name       string
	eventsPerS int    // events produced per second, event time = wall time
	schedule   string // the batch schedule
	approx     bool   // distinct_category approximate (HyperLogLog) in the speed layer
}

const (
	tradeoffsEntities = 5000
	tradeoffsWindow   = 20 * time.Second
)

// TestTradeoffsFollowTheWorkload runs the same platform under two workloads — the
// second with ten times the events and batch runs four times as often — and checks
// that GET /v1/tradeoffs moves the way the Lambda trade-offs say it must: the speed
// layer's event rate and its CPU cost go up with the events, batch runs per hour go up
// and the staleness of batch answers goes down with the schedule; and that every row
// the workload exercised has its figures.
func TestTradeoffsFollowTheWorkload(t *testing.T) {
	quiet := measureTradeoffs(t, workload{name: "quiet", eventsPerS: 150, schedule: "@every 12s"})
	busy := measureTradeoffs(t, workload{name: "busy", eventsPerS: 1500, schedule: "@every 3s", approx: true})
	for _, r := range []tradeoffs.Report{quiet, busy} {
		checkFigures(t, r)
	}
	qb, qs, bb, bs := rowOf(t, quiet, "batch view"), rowOf(t, quiet, "speed view"), rowOf(t, busy, "batch view"), rowOf(t, busy, "speed view")
	if qs.Frequency == nil || bs.Frequency == nil || *bs.Frequency < 5**qs.Frequency {
		t.Errorf("speed events/s: quiet %s, busy %s; want busy at least 5× quiet", fig(qs.Frequency), fig(bs.Frequency))
	}
	quietCPU, busyCPU := cpuPerSecond(qs), cpuPerSecond(bs)
	if busyCPU < 2*quietCPU {
		t.Errorf("speed layer CPU s per second: quiet %.4f, busy %.4f; want busy at least 2× quiet", quietCPU, busyCPU)
	}
	if qb.Frequency == nil || bb.Frequency == nil || *bb.Frequency < 2**qb.Frequency {
		t.Errorf("batch runs/h: quiet %s, busy %s; want busy at least 2× quiet", fig(qb.Frequency), fig(bb.Frequency))
	}
	if qb.StalenessP50 == nil || bb.StalenessP50 == nil || *bb.StalenessP50 >= *qb.StalenessP50 {
		t.Errorf("batch answers' staleness p50: quiet %s, busy %s; want busy below quiet", fig(qb.StalenessP50), fig(bb.StalenessP50))
	}
	// The approximate feature's divergence from the batch value, within the bound the
	// feature spec's docs state (mean within σ = 1.04/√4096).
	if len(quiet.Approximate) != 0 {
		t.Errorf("quiet workload, exact spec: approximate section %+v, want none", quiet.Approximate)
	}
	if a := busy.Approximate; len(a) != 1 || a[0].Feature != "distinct_category" || a[0].Observations == 0 || a[0].Mean == nil || *a[0].Mean > 1.04/64 {
		t.Errorf("busy workload, approximate distinct_category: %+v; want observations with a mean relative error within 1.625%%", a)
	}
}

// measureTradeoffs offers w to a fresh platform, with reads, infer requests and a
// model download beside it, and returns the trade-offs report over the window.
func measureTradeoffs(t *testing.T, w workload) tradeoffs.Report {
	t.Helper()
	ctx := context.Background()
	_, env, _ := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_BATCH_SCHEDULE="+w.schedule, "LAMBDA_TRADEOFFS_SAMPLE=1s")
	if w.approx {
		env = append(env, "LAMBDA_FEATURE_SPEC="+approximateSpec(t))
	}
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", "200")
	up := start(t, env, "up")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]
	testenv.WaitFor(t, time.Minute, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })

	writer, err := kafka.NewWriter([]string{brokers}, e2eTopic)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Close() }()
	start := time.Now()
	g := demogen.New(demogen.Config{Entities: tradeoffsEntities, Seed: 5, Start: start, EventsPerSecond: float64(w.eventsPerS), LateFraction: -1})
	end := start.Add(tradeoffsWindow)
	var wg sync.WaitGroup
	wg.Go(func() { offerReads(t, api, end) })
	const tick = 100 * time.Millisecond
	for next := start; next.Before(end); next = next.Add(tick) {
		time.Sleep(time.Until(next))
		if err := writer.WriteEvents(ctx, take(g, w.eventsPerS/10)); err != nil {
			t.Fatalf("%s: produce: %v", w.name, err)
		}
	}
	wg.Wait()

	code, body := get(t, api+"/v1/tradeoffs?window="+tradeoffsWindow.String())
	var r tradeoffs.Report
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		t.Fatalf("%s: GET /v1/tradeoffs = %d %s", w.name, code, body)
	}
	var table strings.Builder
	_ = r.Write(&table)
	t.Logf("%s workload (%d events/s, batch %s):\n%s", w.name, w.eventsPerS, w.schedule, table.String())
	if code, body := get(t, api+"/v1/tradeoffs?window=1x"); code != http.StatusBadRequest || !strings.Contains(body, "window") {
		t.Errorf("GET /v1/tradeoffs?window=1x = %d %s, want 400 naming the window", code, body)
	}
	up.stop(t, 30*time.Second)
	return r
}

// approximateSpec writes the built-in spec with distinct_category approximate.
func approximateSpec(t *testing.T) string {
	spec, err := os.ReadFile("../internal/features/default_spec.json")
	if err != nil {
		t.Fatal(err)
	}
	exact := `{"name": "distinct_category", "agg": "distinct", "attr": "category"}`
	if !bytes.Contains(spec, []byte(exact)) {
		t.Fatalf("the built-in spec has no %s", exact)
	}
	spec = bytes.Replace(spec, []byte(exact), []byte(`{"name": "distinct_category", "agg": "distinct", "attr": "category", "approximate": "hll"}`), 1)
	path := filepath.Join(t.TempDir(), "spec.json")
	if err := os.WriteFile(path, spec, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// offerReads asks for predictions of random entities, runs infer requests and
// downloads the model until end.
func offerReads(t *testing.T, api string, end time.Time) {
	r := rand.New(rand.NewPCG(5, 5))
	row := `{"inputs":[{"name":"features","shape":[1,15],"datatype":"FP32","data":[` + strings.Repeat("1,", 14) + `1]}]}`
	for i := 0; time.Now().Before(end); i++ {
		id := fmt.Sprintf("user-%06d", r.IntN(tradeoffsEntities)+1)
		if code, body := get(t, api+"/v1/entities/"+id+"/prediction"); code != http.StatusOK && code != http.StatusNotFound {
			t.Errorf("GET prediction of %s = %d %s", id, code, body)
			return
		}
		if i%10 == 0 {
			if code, _, body := call(t, http.MethodPost, api+"/v2/models/"+e2eModel+"/infer", "", nil, []byte(row)); code != http.StatusOK {
				t.Errorf("infer = %d %s", code, body)
				return
			}
		}
		if i%100 == 0 {
			if code, _ := get(t, api+"/v1/models/"+e2eModel+"/versions/1/fp32.onnx"); code != http.StatusOK {
				t.Errorf("model download = %d", code)
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkFigures checks that what the workload exercised was measured.
func checkFigures(t *testing.T, r tradeoffs.Report) {
	t.Helper()
	for _, c := range []struct {
		pattern, figure string
		v               func(tradeoffs.Row) *float64
	}{
		{"batch view", "latency p99", func(r tradeoffs.Row) *float64 { return r.LatencyP99 }},
		{"batch view", "CPU per 1000 events", func(r tradeoffs.Row) *float64 { return r.CPUPer1000 }},
		{"batch view", "bytes stored", func(r tradeoffs.Row) *float64 { return r.BytesStored }},
		{"speed view", "latency p99", func(r tradeoffs.Row) *float64 { return r.LatencyP99 }},
		{"speed view", "CPU per 1000 events", func(r tradeoffs.Row) *float64 { return r.CPUPer1000 }},
		{"speed view", "staleness p50", func(r tradeoffs.Row) *float64 { return r.StalenessP50 }},
		{"online inference", "latency p99", func(r tradeoffs.Row) *float64 { return r.LatencyP99 }},
		{"online inference", "requests/s", func(r tradeoffs.Row) *float64 { return r.Frequency }},
		{"online inference", "CPU per 1000 requests", func(r tradeoffs.Row) *float64 { return r.CPUPer1000 }},
		{"edge", "download latency p99", func(r tradeoffs.Row) *float64 { return r.LatencyP99 }},
		{"edge", "bytes stored", func(r tradeoffs.Row) *float64 { return r.BytesStored }},
	} {
		if v := c.v(rowOf(t, r, c.pattern)); v == nil || *v <= 0 {
			t.Errorf("%s: %s = %s, want a measured figure", c.pattern, c.figure, fig(v))
		}
	}
	if k := r.LambdaVsKappa.Lambda; k.WallSeconds == nil || k.Events == nil || *k.Events == 0 {
		t.Errorf("Lambda reprocessing: %+v, want the latest run's wall time and events", k)
	}
	if r.LambdaVsKappa.Kappa.What != "" || r.LambdaVsKappa.Divergence != nil {
		t.Errorf("Kappa side %+v, divergence %+v: want no data without a replay", r.LambdaVsKappa.Kappa, r.LambdaVsKappa.Divergence)
	}
}

func rowOf(t *testing.T, r tradeoffs.Report, pattern string) tradeoffs.Row {
	t.Helper()
	for _, row := range r.Rows {
		if row.Pattern == pattern {
			return row
		}
	}
	t.Fatalf("no %q row in %+v", pattern, r.Rows)
	return tradeoffs.Row{}
}

// cpuPerSecond is the speed layer's CPU seconds per second of the window.
func cpuPerSecond(r tradeoffs.Row) float64 {
	if r.CPUPer1000 == nil || r.Frequency == nil {
		return 0
	}
	return *r.CPUPer1000 * *r.Frequency / 1000
}

func fig(v *float64) string {
	if v == nil {
		return "no data"
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}
