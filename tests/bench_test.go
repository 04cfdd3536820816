package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/lambda-platform/lambda/internal/testenv"
)

// Load of BenchmarkUp; LAMBDA_BENCH_RATE and LAMBDA_BENCH_UP_ENTITIES override them.
const (
	upBenchRate     = 5000        // requests per second offered
	upBenchEntities = 100_000     // demo entities, each in the batch view
	upBenchEvents   = 3           // demo events per entity
	upSteadySeconds = 10          // per steady-state scenario
	upAfterPublish  = 30          // seconds measured after the publish
	speedPruneDelay = time.Minute // the speed layer's default PruneDelay
)

// BenchmarkUp measures `lambda up` as `make run` gives it to a user — the embedded
// broker, the archiver, the speed layer, the scheduler and the API in one process, with
// demo data for upBenchEntities entities — with vegeta offering the load from its own
// process, open loop:
//
//   - steady: once the start-up is over (the speed layer deletes the speed rows the
//     first run dominates a minute after it, which empties the API's speed cache of
//     them) and every entity was asked for once, GET /v2/health/live (the HTTP floor)
//     and the merged prediction of random entities, twice each, alternating,
//     upSteadySeconds each; merged/live is the ratio of their p99s in the same round;
//   - publish: the merged prediction of random entities while a batch run over every
//     event is triggered over REST, runs in the same process and publishes its view of
//     every entity, which the API loads and switches to; p99 over the upAfterPublish
//     seconds after the publish, the errors of the whole attack, and the answers whose
//     coverage went back (an answer covering less than one the same entity received
//     before it was asked for).
//
// It needs vegeta: $LAMBDA_VEGETA, or .cache/bin/vegeta, which `make bench` installs.
func BenchmarkUp(b *testing.B) {
	vegeta := vegetaBin(b)
	rate := envInt("LAMBDA_BENCH_RATE", upBenchRate)
	entities := envInt("LAMBDA_BENCH_UP_ENTITIES", upBenchEntities)
	for range b.N {
		_, pgURL := testenv.EmptyPostgres(b)
		ch, chDB := testenv.EmptyClickHouse(b)
		token := randomToken(b)
		env := append(upEnv(b, pgURL, chDB), "LAMBDA_ADMIN_TOKEN="+token, "LAMBDA_BATCH_SCHEDULE=@every 24h")
		up := start(b, env, "up", "--demo-events", strconv.Itoa(entities*upBenchEvents), "--demo-entities", strconv.Itoa(entities))
		api := up.waitLine(b, "api", time.Minute)
		first := waitServed(b, api, 0, 5*time.Minute)
		b.Logf("run %d served", first)

		dir := b.TempDir()
		live := filepath.Join(dir, "live.txt")
		merged := filepath.Join(dir, "merged.txt")
		writeTargets(b, live, []string{"GET " + api + "/v2/health/live"})
		// every entity of the batch view
		ids := predictionTargets(b, b.Context(), ch, api, "SELECT DISTINCT entity_id FROM `"+chDB+"`.batch_view WHERE run_id = ?", uint64(first))
		b.ReportMetric(float64(len(ids)), "entities")
		rand.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		writeTargets(b, merged, ids)
		time.Sleep(time.Until(batchRun(b, api, first).PublishedAt.Add(speedPruneDelay + 5*time.Second)))
		warm := attack(b, vegeta, merged, rate, time.Duration(len(ids))*time.Second/time.Duration(rate))
		b.Logf("warm-up, every entity once: p99 %.1f ms", ms(percentile(warm, 0.99)))

		for round := 1; round <= 2; round++ {
			l := attack(b, vegeta, live, rate, upSteadySeconds*time.Second)
			m := attack(b, vegeta, merged, rate, upSteadySeconds*time.Second)
			for name, res := range map[string][]vegetaResult{"live": l, "merged": m} {
				if n := failures(res); n > 0 {
					b.Errorf("steady %s round %d: %d of %d requests failed, the first: %s", name, round, n, len(res), firstFailure(res))
				}
			}
			lp, mp := percentile(l, 0.99), percentile(m, 0.99)
			b.ReportMetric(ms(percentile(l, 0.5)), fmt.Sprintf("live%d-p50-ms", round))
			b.ReportMetric(ms(lp), fmt.Sprintf("live%d-p99-ms", round))
			b.ReportMetric(ms(percentile(m, 0.5)), fmt.Sprintf("merged%d-p50-ms", round))
			b.ReportMetric(ms(mp), fmt.Sprintf("merged%d-p99-ms", round))
			b.ReportMetric(float64(mp)/float64(lp), fmt.Sprintf("merged/live%d-p99", round))
		}
		steady := percentile(attack(b, vegeta, merged, rate, upSteadySeconds*time.Second), 0.99)
		b.ReportMetric(ms(steady), "steady-p99-ms")

		// The publish: the attack runs while a batch run is triggered, and long enough
		// after the publish (the run's duration is estimated from the first one's).
		firstRun := batchRun(b, api, first)
		runTook := firstRun.FinishedAt.Sub(firstRun.StartedAt)
		d := 5*time.Second + 3*runTook + (upAfterPublish+5)*time.Second
		results := make(chan []vegetaResult, 1)
		go func() { results <- attack(b, vegeta, merged, rate, d) }()
		time.Sleep(5 * time.Second)
		code, _, body := call(b, http.MethodPost, api+"/v1/batch/runs", "Bearer "+token, nil, []byte(`{"requested_by":"bench"}`))
		if code != http.StatusAccepted {
			b.Fatalf("trigger a batch run: %d %s", code, body)
		}
		second := waitServed(b, api, first, d)
		res := <-results
		run := batchRun(b, api, second)
		after := res[:0:0]
		for _, r := range res {
			if !r.Timestamp.Before(run.PublishedAt) && r.Timestamp.Before(run.PublishedAt.Add(upAfterPublish*time.Second)) {
				after = append(after, r)
			}
		}
		if end := res[len(res)-1].Timestamp; end.Sub(run.PublishedAt) < upAfterPublish*time.Second {
			b.Errorf("the attack ended %s after the publish, before %d s", end.Sub(run.PublishedAt), upAfterPublish)
		}
		p99 := percentile(after, 0.99)
		logWindows(b, res, run.PublishedAt)
		back := coverageWentBack(b, res)
		b.ReportMetric(runTook.Seconds(), "run1-s")
		b.ReportMetric(run.FinishedAt.Sub(run.StartedAt).Seconds(), "run2-s")
		b.ReportMetric(ms(percentile(after, 0.5)), "publish-p50-ms")
		b.ReportMetric(ms(p99), "publish-p99-ms")
		b.ReportMetric(float64(p99)/float64(steady), "publish/steady-p99")
		b.ReportMetric(float64(failures(res)), "publish-errors")
		b.ReportMetric(float64(back), "coverage-back")
		b.ReportMetric(float64(procMemory(b, up.cmd.Process.Pid, "VmHWM"))/(1<<20), "up-rss-MB")
		if n := failures(res); n > 0 {
			b.Errorf("publish: %d of %d requests failed, the first: %s", n, len(res), firstFailure(res))
		}
		if back > 0 {
			b.Errorf("publish: %d answers went back in coverage", back)
		}
		up.stop(b, 30*time.Second)
	}
}

// waitServed waits until the API serves a batch run other than previous and returns its id.
func waitServed(tb testing.TB, api string, previous int64, timeout time.Duration) int64 {
	tb.Helper()
	var id int64
	testenv.WaitFor(tb, timeout, fmt.Sprintf("a batch run after run %d served", previous), func() bool {
		code, body := get(tb, api+"/v1/batch/schedule")
		var s struct {
			ServedRun *struct {
				ID int64 `json:"id"`
			} `json:"served_run"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &s) != nil || s.ServedRun == nil {
			return false
		}
		id = s.ServedRun.ID
		return id != previous
	})
	return id
}

// benchRun is what the bench reads of a batch run.
type benchRun struct {
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	PublishedAt time.Time `json:"published_at"`
}

func batchRun(tb testing.TB, api string, id int64) benchRun {
	tb.Helper()
	code, body := get(tb, fmt.Sprintf("%s/v1/batch/runs/%d", api, id))
	var r benchRun
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		tb.Fatalf("GET batch run %d: %d %s", id, code, body)
	}
	return r
}

func writeTargets(tb testing.TB, path string, lines []string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// vegetaResult is one request of an attack, as `vegeta encode -to json` writes it.
type vegetaResult struct {
	Code      int           `json:"code"`
	Timestamp time.Time     `json:"timestamp"` // when the request was issued
	Latency   time.Duration `json:"latency"`
	Error     string        `json:"error"`
	Body      []byte        `json:"body"`
	URL       string        `json:"url"`
}

// attack runs vegeta at rate per second for d over the targets file, and returns every
// request's result in the order they were issued.
func attack(tb testing.TB, vegeta, targets string, rate int, d time.Duration) []vegetaResult {
	tb.Helper()
	out := filepath.Join(filepath.Dir(targets), "results.bin")
	cmd := exec.Command(vegeta, "attack", "-targets", targets, "-rate", strconv.Itoa(rate), "-duration", d.String(),
		"-timeout", "10s", "-max-workers", "512", "-output", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("vegeta attack: %v\n%s", err, msg)
	}
	enc := exec.Command(vegeta, "encode", "-to", "json", out)
	stdout, err := enc.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := enc.Start(); err != nil {
		tb.Fatal(err)
	}
	var res []vegetaResult
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r vegetaResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("vegeta result: %v", err)
		}
		res = append(res, r)
	}
	if err := enc.Wait(); err != nil || sc.Err() != nil {
		tb.Fatalf("vegeta encode: %v %v", err, sc.Err())
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Timestamp.Before(res[j].Timestamp) })
	return res
}

func failures(res []vegetaResult) int {
	n := 0
	for _, r := range res {
		if r.Code != http.StatusOK || r.Error != "" {
			n++
		}
	}
	return n
}

func firstFailure(res []vegetaResult) string {
	for _, r := range res {
		if r.Code != http.StatusOK || r.Error != "" {
			return fmt.Sprintf("%s: %d %s %s", r.URL, r.Code, r.Error, r.Body)
		}
	}
	return ""
}

func percentile(res []vegetaResult, p float64) time.Duration {
	lat := make([]time.Duration, len(res))
	for i, r := range res {
		lat[i] = r.Latency
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return 0
	}
	return lat[int(p*float64(len(lat)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// coverageWentBack counts the answers that cover less of an entity's partition than an
// answer for the same entity completed before they were asked for.
func coverageWentBack(tb testing.TB, res []vegetaResult) int {
	tb.Helper()
	type event struct {
		at     time.Time
		done   bool // the answer completed, else the request was issued
		entity string
		offset int64
		i      int
	}
	var events []event
	for i, r := range res {
		if r.Code != http.StatusOK {
			continue
		}
		var p struct {
			EntityID string `json:"entity_id"`
			Coverage struct {
				Offset int64 `json:"offset"`
			} `json:"coverage"`
		}
		if err := json.NewDecoder(bytes.NewReader(r.Body)).Decode(&p); err != nil {
			tb.Fatalf("answer of %s: %v: %s", r.URL, err, r.Body)
		}
		events = append(events, event{at: r.Timestamp, entity: p.EntityID, offset: p.Coverage.Offset, i: i},
			event{at: r.Timestamp.Add(r.Latency), done: true, entity: p.EntityID, offset: p.Coverage.Offset, i: i})
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	seen := map[string]int64{} // the most coverage completed so far, per entity
	floor := make(map[int]int64)
	for _, e := range events {
		if e.done {
			seen[e.entity] = max(seen[e.entity], e.offset)
		} else {
			floor[e.i] = seen[e.entity]
		}
	}
	back := 0
	for _, e := range events {
		if !e.done && e.offset < floor[e.i] {
			back++
		}
	}
	return back
}

// vegetaBin is the vegeta load generator: $LAMBDA_VEGETA, or .cache/bin/vegeta, which
// `make vegeta` installs.
func vegetaBin(tb testing.TB) string {
	tb.Helper()
	vegeta := os.Getenv("LAMBDA_VEGETA")
	if vegeta == "" {
		vegeta, _ = filepath.Abs("../.cache/bin/vegeta")
	}
	if _, err := os.Stat(vegeta); err != nil {
		tb.Fatalf("vegeta: %v (make vegeta installs it into .cache/bin)", err)
	}
	return vegeta
}

// procMemory is a memory figure of process pid from /proc/PID/status, in bytes: field
// VmHWM is the peak resident memory, VmRSS the resident memory now.
func procMemory(tb testing.TB, pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Logf("%s: %v", field, err)
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil && v > 0 {
		return v
	}
	return def
}

// logWindows logs the p99 of each second of an attack, in seconds from the publish.
func logWindows(tb testing.TB, res []vegetaResult, publish time.Time) {
	var line strings.Builder
	for from := 0; from < len(res); {
		sec := res[from].Timestamp.Sub(publish).Truncate(time.Second)
		to := from
		for to < len(res) && res[to].Timestamp.Sub(publish).Truncate(time.Second) == sec {
			to++
		}
		fmt.Fprintf(&line, " %+d:%.1f", int(sec.Seconds()), ms(percentile(res[from:to], 0.99)))
		from = to
	}
	tb.Logf("p99 ms per second from the publish:%s", line.String())
}

// predictionTargets are vegeta targets, GET prediction at api, of the entity ids
// query (one column) selects in ClickHouse.
func predictionTargets(b *testing.B, ctx context.Context, ch driver.Conn, api, query string, args ...any) []string {
	rows, err := ch.Query(ctx, query, args...)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var targets []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			b.Fatal(err)
		}
		targets = append(targets, "GET "+api+"/v1/entities/"+id+"/prediction")
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return targets
}
