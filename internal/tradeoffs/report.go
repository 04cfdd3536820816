package tradeoffs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/report"
)

// Report is the trade-offs table over a window. Nil figures have no data yet.
type Report struct {
	WindowSeconds float64 `json:"window_seconds"`
	// From and To are the samples the figures are differenced between: the window is
	// covered only from From when the process (or its sampling) is younger than it.
	From         time.Time `json:"from"`
	To           time.Time `json:"to"`
	Architecture string    `json:"architecture"`
	Rows         []Row     `json:"rows"`
	// Approximate is, per approximate speed-layer feature, how far its served values
	// were from the exact batch value that replaced them.
	Approximate   []Approx   `json:"approximate"`
	LambdaVsKappa Comparison `json:"lambda_vs_kappa"`
}

// Row is one serving pattern.
type Row struct {
	Pattern    string   `json:"pattern"` // batch view, speed view, kappa view, online inference, edge
	LatencyP50 *float64 `json:"latency_p50_seconds"`
	LatencyP99 *float64 `json:"latency_p99_seconds"`
	LatencyOf  string   `json:"latency_of"`
	// Frequency is how often the pattern's answers change, in FrequencyUnit.
	Frequency     *float64 `json:"update_frequency"`
	FrequencyUnit string   `json:"update_frequency_unit"`
	// CPUPer1000 and BytesPer1000 are CPU seconds spent and bytes stored per 1,000 of Per.
	CPUPer1000   *float64 `json:"cpu_seconds_per_1000"`
	BytesPer1000 *float64 `json:"bytes_stored_per_1000"`
	BytesStored  *float64 `json:"bytes_stored"`
	Per          string   `json:"per"`
	CostOf       string   `json:"cost_of"`
	AlwaysOn     bool     `json:"always_on"`
	StalenessP50 *float64 `json:"staleness_p50_seconds"`
	StalenessP99 *float64 `json:"staleness_p99_seconds"`
	StalenessOf  string   `json:"staleness_of"`
}

// Approx is an approximate feature's measured error.
type Approx struct {
	Feature      string   `json:"feature"`
	Observations int64    `json:"observations"`
	Mean         *float64 `json:"mean_relative_error"`
	P99          *float64 `json:"p99_relative_error"`
}

// Comparison is Lambda's two code paths against Kappa's one.
type Comparison struct {
	Lambda     Reprocessing `json:"lambda"`
	Kappa      Reprocessing `json:"kappa"`
	Divergence *Divergence  `json:"divergence"`
}

// Reprocessing is how a path recomputes the whole log, from its latest record.
type Reprocessing struct {
	CodePaths       int      `json:"code_paths"`
	CodePathsOf     string   `json:"code_paths_of"`
	What            string   `json:"what"` // "batch run 7", "replay 2"; empty: none yet
	WallSeconds     *float64 `json:"wall_seconds"`
	CPUSeconds      *float64 `json:"cpu_seconds"`
	Events          *float64 `json:"events"`
	EventsPerSecond *float64 `json:"events_per_second"`
}

// Divergence is how far the batch run's answers are from the replay's, compared at
// the run's as_of over the entities both hold.
type Divergence struct {
	Run          int64   `json:"run"`
	Replay       int64   `json:"replay"`
	Entities     int     `json:"entities"`
	StatesEqual  int     `json:"states_equal"`
	MaxAbsDelta  float64 `json:"max_abs_delta_score"`
	MeanAbsDelta float64 `json:"mean_abs_delta_score"`
}

// Compare compares a batch run with a replay (report.NewRollout).
type Compare func(ctx context.Context, runID, replayID int64) (report.Rollout, error)

// Reporter builds Reports.
type Reporter struct {
	Recorder     *Recorder
	Postgres     *pgxpool.Pool
	Architecture string  // lambda or kappa
	Compare      Compare // nil: divergence not computed

	mu       sync.Mutex
	compared map[[2]int64]Divergence // a published run and a ready replay never change
}

// DefaultWindow is the window of a report that names none.
const DefaultWindow = 15 * time.Minute

// Report builds the report over the window up to now.
func (r *Reporter) Report(ctx context.Context, window time.Duration) (Report, error) {
	if keeps := r.Recorder.Keeps(); window <= 0 || window > keeps {
		return Report{}, fmt.Errorf("%w: window %s: want more than 0 and at most %s (what the samples every %s keep)",
			ErrBadWindow, window, keeps, r.Recorder.every)
	}
	sp, err := r.Recorder.window(window)
	if err != nil {
		return Report{}, err
	}
	rec, err := readRecords(ctx, r.Postgres, sp.to.Add(-window))
	if err != nil {
		return Report{}, err
	}
	out := Report{WindowSeconds: window.Seconds(), From: sp.from, To: sp.to, Architecture: r.Architecture}
	if r.Architecture != "kappa" {
		out.Rows = append(out.Rows, batchRow(sp, rec, window), speedRow(sp, rec))
	}
	if r.Architecture == "kappa" || sp.delta(answerStale, "kappa").count > 0 {
		out.Rows = append(out.Rows, kappaRow(sp))
	}
	out.Rows = append(out.Rows, inferRow(sp), edgeRow(sp, rec))
	for _, f := range sp.labels(approxError) {
		h := sp.delta(approxError, f)
		out.Approximate = append(out.Approximate, Approx{Feature: f, Observations: int64(h.count), Mean: h.mean(), P99: h.quantile(0.99)})
	}
	out.LambdaVsKappa = r.comparison(ctx, rec)
	return out, nil
}

// ErrBadWindow: the window asked for cannot be reported.
var ErrBadWindow = fmt.Errorf("bad trade-offs window")

func perSecond(n, seconds float64) *float64 {
	if seconds <= 0 {
		return nil
	}
	v := n / seconds
	return &v
}

// per1000 is 1,000 × num / den; nil when den is 0.
func per1000(num, den float64) *float64 {
	if den <= 0 {
		return nil
	}
	v := 1000 * num / den
	return &v
}

func ptr(v float64) *float64 { return &v }

func batchRow(sp span, rec records, window time.Duration) Row {
	lat, stale := sp.delta(answerDuration, "batch"), sp.delta(answerStale, "batch")
	row := Row{
		Pattern: "batch view", LatencyP50: lat.quantile(0.5), LatencyP99: lat.quantile(0.99),
		LatencyOf:     "lookup and merge of single-entity answers from the batch view",
		FrequencyUnit: "runs/h", Per: "events",
		CostOf:       "batch runs finished in the window (process CPU of the run); bytes of the served run's ClickHouse view",
		StalenessP50: stale.quantile(0.5), StalenessP99: stale.quantile(0.99),
		StalenessOf: "served batch answers: serve time - the run's cutoff event time",
	}
	if rec.runs > 0 {
		row.Frequency = ptr(float64(rec.runs) * float64(time.Hour) / float64(window))
		row.CPUPer1000 = per1000(rec.runCPU, rec.runEvents)
	}
	if rec.served.bytes > 0 {
		row.BytesStored = ptr(rec.served.bytes)
		row.BytesPer1000 = per1000(rec.served.bytes, rec.served.events)
	}
	return row
}

func speedRow(sp span, rec records) Row {
	lat, stale := sp.delta(answerDuration, "speed"), sp.delta(answerStale, "speed")
	events := sp.delta(speedEvents, "").sum
	row := Row{
		Pattern: "speed view", LatencyP50: lat.quantile(0.5), LatencyP99: lat.quantile(0.99),
		LatencyOf:     "lookup and merge of single-entity answers from the speed view",
		FrequencyUnit: "events/s", AlwaysOn: true, Per: "events",
		CostOf:       "speed layer threads folding, scoring and writing (lambda_speed_cpu_seconds_total); speed_view bytes per message after the cutoff",
		StalenessP50: stale.quantile(0.5), StalenessP99: stale.quantile(0.99),
		StalenessOf: "served speed answers: serve time - the newest event folded",
	}
	if events > 0 {
		row.Frequency = perSecond(events, sp.seconds())
		row.CPUPer1000 = per1000(sp.delta(speedCPU, "").sum, events)
	}
	if rec.speedBytes > 0 {
		row.BytesStored = ptr(rec.speedBytes)
		row.BytesPer1000 = per1000(rec.speedBytes, rec.speedMessages)
	}
	return row
}

func kappaRow(sp span) Row {
	lat, stale := sp.delta(answerDuration, "kappa"), sp.delta(answerStale, "kappa")
	return Row{
		Pattern: "kappa view", LatencyP50: lat.quantile(0.5), LatencyP99: lat.quantile(0.99),
		LatencyOf: "lookup of single-entity answers from the live replay's view", FrequencyUnit: "events/s",
		AlwaysOn: true, Per: "events", CostOf: "see the replay below",
		StalenessP50: stale.quantile(0.5), StalenessP99: stale.quantile(0.99),
		StalenessOf: "served kappa answers: serve time - the newest event folded",
	}
}

// routes sums the request histograms of the routes that match.
func routes(sp span, match func(string) bool) hist {
	var h hist
	for _, route := range sp.labels(requestTime) {
		if match(route) {
			h = h.plus(sp.delta(requestTime, route))
		}
	}
	return h
}

func isInfer(route string) bool {
	return strings.HasPrefix(route, "/v2/models/") && strings.HasSuffix(route, "/infer")
}

func isDownload(route string) bool { return strings.HasSuffix(route, "/versions/:version/:file") }

func inferRow(sp span) Row {
	req := routes(sp, isInfer)
	row := Row{
		Pattern: "online inference", LatencyP50: req.quantile(0.5), LatencyP99: req.quantile(0.99),
		LatencyOf: "OIP v2 infer requests, whole HTTP exchange", FrequencyUnit: "requests/s",
		AlwaysOn: true, Per: "requests", BytesStored: ptr(0),
		CostOf:      "ONNX Runtime runs of infer requests (lambda_serving_infer_cpu_seconds_total); stores nothing",
		StalenessOf: "none: the features come with the request",
	}
	if req.count > 0 {
		row.Frequency = perSecond(req.count, sp.seconds())
		row.CPUPer1000 = per1000(sp.delta(inferCPU, "").sum, req.count)
		row.BytesPer1000 = ptr(0)
	}
	return row
}

func edgeRow(sp span, rec records) Row {
	dl := routes(sp, isDownload)
	row := Row{
		Pattern: "edge", LatencyP50: dl.quantile(0.5), LatencyP99: dl.quantile(0.99),
		LatencyOf: "model downloads from this platform (on-device inference runs on the device)", FrequencyUnit: "model releases",
		Frequency: ptr(float64(rec.releases)), Per: "downloads",
		CostOf:      "on the device; here only the model files (fp32 + INT8 of the active versions)",
		StalenessOf: "age of the active model",
	}
	if rec.modelBytes > 0 {
		row.BytesStored = ptr(rec.modelBytes)
	}
	if rec.modelAge > 0 {
		row.StalenessP50, row.StalenessP99 = ptr(rec.modelAge), ptr(rec.modelAge)
	}
	return row
}

func (r *Reporter) comparison(ctx context.Context, rec records) Comparison {
	c := Comparison{
		Lambda: Reprocessing{CodePaths: 2, CodePathsOf: "batch layer (ClickHouse scan, batchlayer/batchrun) and speed layer (Kafka, speedlayer), one feature definition"},
		Kappa:  Reprocessing{CodePaths: 1, CodePathsOf: "the speed layer's code replaying the log from offset 0 (speedlayer/kappa)"},
	}
	if run := rec.latestRun; run.id != 0 {
		c.Lambda.What = fmt.Sprintf("batch run %d", run.id)
		c.Lambda.WallSeconds, c.Lambda.CPUSeconds, c.Lambda.Events = ptr(run.wall), ptr(run.cpu), ptr(run.events)
		c.Lambda.EventsPerSecond = perSecond(run.events, run.wall)
	}
	if rep := rec.latestReplay; rep.id != 0 {
		c.Kappa.What = fmt.Sprintf("replay %d", rep.id)
		c.Kappa.WallSeconds, c.Kappa.CPUSeconds, c.Kappa.Events = ptr(rep.wall), ptr(rep.cpu), ptr(rep.events)
		c.Kappa.EventsPerSecond = perSecond(rep.events, rep.wall)
	}
	if r.Compare != nil && rec.latestRun.id != 0 && rec.latestReplay.id != 0 {
		c.Divergence = r.divergence(ctx, rec.latestRun.id, rec.latestReplay.id)
	}
	return c
}

// divergence compares run and replay once; a failed comparison is tried again next time.
func (r *Reporter) divergence(ctx context.Context, run, replay int64) *Divergence {
	r.mu.Lock()
	defer r.mu.Unlock()
	pair := [2]int64{run, replay}
	if d, ok := r.compared[pair]; ok {
		return &d
	}
	ro, err := r.Compare(ctx, run, replay)
	if err != nil {
		return nil
	}
	d := Divergence{Run: run, Replay: replay, Entities: ro.Both, StatesEqual: ro.StatesEqual, MaxAbsDelta: ro.MaxDelta, MeanAbsDelta: ro.MeanDelta}
	if r.compared == nil {
		r.compared = map[[2]int64]Divergence{}
	}
	r.compared[pair] = d
	return &d
}
