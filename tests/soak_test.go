package tests

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// The soak's short form, as `make test` runs it; `make soak` sets the long form
// through these variables (10 min, 2000 req/s, 20000 events/s, a run every 2 min,
// a sample every 30 s).
const (
	soakDuration = time.Minute
	soakSample   = 10 * time.Second
	soakReqRate  = 500  // LAMBDA_SOAK_RATE: requests per second offered by vegeta
	soakEvRate   = 2000 // LAMBDA_SOAK_EVENTS_RATE: events per second of `lambda produce`
	soakSchedule = "*/20 * * * * *"
	soakEntities = 2000
	// soakHistory is how many events (LAMBDA_SOAK_HISTORY) the platform holds, archived
	// and folded by a published run, before the soak starts. The batch run's memory
	// follows the largest chunk it holds, and a chunk never splits an entity: on an
	// empty platform it grows with the history until the heaviest entities' chunks are
	// read streamed (above master.MaxHeldRows), and the rebuilds after each run replay
	// more as runs take longer. A history puts the first third of the soak in the
	// steady state the last third is compared with; the short form starts empty.
	soakHistory = 0
	// soakLagSeconds bounds the speed layer's lag after the warm-up: at most this many
	// seconds of the event rate.
	soakLagSeconds = 10
)

// soakProc is one process of the soak: its pid and /metrics address.
type soakProc struct {
	name    string
	p       *process
	metrics string
}

// soakSampleRow is what one sample read of every process.
type soakSampleRow struct {
	at         time.Duration
	rssMB      []float64 // VmRSS when sampled
	peakMB     []float64 // the highest VmRSS since the sample before (VmHWM, then reset)
	goroutines []int
	lag        int // lambda_speed_consumer_lag_messages, summed over the partitions
	behind     int // the topic's end offsets less the speed group's committed ones
}

// TestSoak runs the platform as separate `lambda up --roles` processes — the broker,
// the API, the speed layer, the archiver with the forwarder and the scheduler — so
// that each component's memory and goroutines are its own to sample, under sustained
// load from processes of their own: vegeta offers a mix of GET prediction of random
// entities, batchGet of 20 random entities and OIP infer, `lambda produce --rate`
// writes events, and the scheduler runs a batch run on its schedule. Every sample it
// reads each process's RSS (VmRSS) and go_goroutines and the speed layer's lag; then it
// checks: no 5xx and no transport error in vegeta's results, no ERROR line in any
// process's log, RSS flat (the last third's peak ≤ 1.5 × the first third's peak + 20 MB,
// each sample's peak being the highest RSS since the sample before, not the RSS of the
// moment, which catches a process that swings with the run cycle in a random phase),
// goroutines flat (the last third's min ≤ the first third's max + 20) and the lag below
// soakLagSeconds of events, by its gauge and by its group's uncommitted messages, at
// every sample after the first.
func TestSoak(t *testing.T) {
	vegeta := vegetaBin(t)
	duration := envDuration(t, "LAMBDA_SOAK_DURATION", soakDuration)
	every := envDuration(t, "LAMBDA_SOAK_SAMPLE", soakSample)
	reqRate := envInt("LAMBDA_SOAK_RATE", soakReqRate)
	evRate := envInt("LAMBDA_SOAK_EVENTS_RATE", soakEvRate)
	schedule := cmp.Or(os.Getenv("LAMBDA_SOAK_SCHEDULE"), soakSchedule)
	history := envInt("LAMBDA_SOAK_HISTORY", soakHistory)
	ctx, cancel := context.WithTimeout(t.Context(), duration+15*time.Minute)
	defer cancel()

	_, env, _ := freshPlatform(t)
	// `up` lets the heap grow 512 MB between collections (LAMBDA_GC_HEADROOM_MB): a
	// process's RSS then climbs toward its live heap + 512 MB at the pace it allocates —
	// the API's in a minute, the broker's in more than ten — so RSS under it shows growth
	// where there is none and hides a leak of that size. The soak runs Go's default GC
	// (a heap goal of twice the live heap), where RSS follows the live heap.
	headroom := cmp.Or(os.Getenv("LAMBDA_SOAK_GC_HEADROOM_MB"), "0")
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_METRICS_ADDR=127.0.0.1:0", "LAMBDA_GC_HEADROOM_MB="+headroom)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(soakEntities))

	broker := start(t, env, "up", "--roles", "broker")
	brokers := broker.waitLine(t, "kafka", 30*time.Second)
	env = append(env, "LAMBDA_KAFKA_EMBEDDED_ADDR="+brokers)
	procs := []soakProc{{name: "broker", p: broker}, {name: "archiver,forwarder", p: start(t, env, "up", "--roles", "archiver,forwarder")}}
	if history > 0 {
		// A history first, archived and folded by a published run, so that the soak
		// measures a platform in its steady state (see soakHistory).
		began := time.Now()
		run(t, ctx, env, "produce", "--events", strconv.Itoa(history), "--entities", strconv.Itoa(soakEntities), "--seed", "14")
		waitCommittedFor(t, ctx, brokers, e2eArchiver, 10*time.Minute)
		archived := time.Since(began)
		run(t, ctx, env, "batch", "run")
		t.Logf("history: %d events produced and archived in %s, folded by a batch run in %s", history,
			archived.Round(time.Second), (time.Since(began) - archived).Round(time.Second))
	}
	for _, roles := range []string{"api", "speed"} {
		procs = append(procs, soakProc{name: roles, p: start(t, env, "up", "--roles", roles)})
	}
	api := procs[2].p.waitLine(t, "api", time.Minute)
	testenv.WaitFor(t, time.Minute, api+"/readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	for i := range procs {
		if procs[i].name == "api" {
			procs[i].metrics = api + "/metrics"
		} else {
			procs[i].metrics = procs[i].p.waitLine(t, "metrics", time.Minute)
		}
	}

	// The events, then the scheduler: the first run has events to read.
	producer := start(t, env, "produce", "--rate", strconv.Itoa(evRate), "--events", strconv.Itoa(evRate*int(duration.Seconds()+120)),
		"--entities", strconv.Itoa(soakEntities), "--seed", "15")
	procs = append(procs, soakProc{name: "scheduler", p: start(t, append(env, "LAMBDA_BATCH_SCHEDULE="+schedule), "up", "--roles", "scheduler")})
	procs[len(procs)-1].metrics = procs[len(procs)-1].p.waitLine(t, "metrics", time.Minute)
	// The speed layer sets its lag once it has committed (after a history, once its
	// deltas are installed).
	speed := procs[3].metrics
	testenv.WaitFor(t, time.Minute, speed+" shows the speed layer's lag", func() bool {
		_, body := get(t, speed)
		_, ok := metricSum(body, "lambda_speed_consumer_lag_messages")
		return ok
	})

	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.txt")
	writeTargets(t, targets, soakTargets(t, api, dir))

	// Sampling runs beside the attack; the attack blocks this goroutine.
	began := time.Now()
	samples := make(chan []soakSampleRow, 1)
	stop := make(chan struct{})
	go func() {
		var rows []soakSampleRow
		tick := time.NewTicker(every)
		defer tick.Stop()
		rows = append(rows, sampleSoak(t, ctx, brokers, procs, time.Since(began)))
		for {
			select {
			case <-tick.C:
				rows = append(rows, sampleSoak(t, ctx, brokers, procs, time.Since(began)))
			case <-stop:
				samples <- rows
				return
			}
		}
	}()
	res := attack(t, vegeta, targets, reqRate, duration)
	close(stop)
	rows := <-samples
	_ = producer.cmd.Process.Kill() // its work has no end to wait for

	names := make([]string, len(procs))
	for i, p := range procs {
		names[i] = p.name
	}
	logSoakTable(t, names, rows)
	checkSoakLoad(t, res)
	checkSoakFlat(t, names, rows)
	lagBound := soakLagSeconds * evRate
	for _, r := range rows[1:] {
		if r.lag > lagBound || r.behind > lagBound {
			t.Errorf("speed lag %d messages (%d uncommitted) at %s, want ≤ %d (%d s of events)",
				r.lag, r.behind, r.at.Round(time.Second), lagBound, soakLagSeconds)
		}
	}
	runs := 0
	for line := range strings.Lines(procs[len(procs)-1].p.output()) {
		if strings.Contains(line, "scheduled batch run started") {
			runs++
		}
	}
	if runs == 0 {
		t.Error("the scheduler started no batch run during the soak")
	}
	for _, p := range append(procs, soakProc{name: "produce", p: producer}) {
		for line := range strings.Lines(p.p.output()) {
			if strings.Contains(line, "level=ERROR") {
				t.Errorf("%s logged an error: %s", p.name, strings.TrimSpace(line))
			}
		}
	}
	t.Logf("soak: %s, %d requests at %d/s, %d events/s, %d scheduled batch runs, lag bound %d",
		duration, len(res), reqRate, evRate, runs, lagBound)
}

// soakTargets are vegeta's targets, in http format: per 10 requests, 6 GET prediction
// of a random entity, 2 batchGet of 20 random entities and 2 OIP infer of one row.
func soakTargets(t *testing.T, api, dir string) []string {
	t.Helper()
	md := modelMetadata(t, api)
	infer := filepath.Join(dir, "infer.json")
	if err := os.WriteFile(infer, inferBody(md, edgeRows(md.width(), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	entity := func() string { return fmt.Sprintf("user-%06d", rand.IntN(soakEntities)) }
	var lines []string
	for i := range 200 {
		switch i % 10 {
		case 3, 7:
			ids := make([]string, 20)
			for j := range ids {
				ids[j] = strconv.Quote(entity())
			}
			body := filepath.Join(dir, fmt.Sprintf("batch-%d.json", i))
			if err := os.WriteFile(body, []byte(`{"ids":[`+strings.Join(ids, ",")+`]}`), 0o644); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, "POST "+api+"/v1/predictions:batchGet", "Content-Type: application/json", "@"+body, "")
		case 5, 9:
			lines = append(lines, "POST "+api+"/v2/models/"+e2eModel+"/infer", "@"+infer, "")
		default:
			lines = append(lines, "GET "+api+"/v1/entities/"+entity()+"/prediction", "")
		}
	}
	return lines
}

// sampleSoak reads every process's RSS and goroutines, and the speed layer's lag twice:
// its own gauge (set when it commits a micro-batch: it would freeze if the speed layer
// stalled) and the messages its group has not committed.
func sampleSoak(t *testing.T, ctx context.Context, brokers string, procs []soakProc, at time.Duration) soakSampleRow {
	row := soakSampleRow{at: at}
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, e2eTopic)
	if err != nil {
		t.Errorf("end offsets: %v", err)
	}
	committed, err := kafka.Committed(ctx, []string{brokers}, e2eSpeed, e2eTopic)
	if err != nil {
		t.Errorf("speed group's committed offsets: %v", err)
	}
	for p, end := range ends {
		row.behind += int(end - committed[p])
	}
	for _, p := range procs {
		pid := p.p.cmd.Process.Pid
		row.rssMB = append(row.rssMB, float64(procMemory(t, pid, "VmRSS"))/(1<<20))
		row.peakMB = append(row.peakMB, float64(procMemory(t, pid, "VmHWM"))/(1<<20))
		// 5 resets the peak to the RSS of now (proc(5), /proc/pid/clear_refs).
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
			t.Errorf("reset the peak RSS of %s: %v", p.name, err)
		}
		code, body := get(t, p.metrics)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d", p.metrics, code)
		}
		g, _ := metricSum(body, "go_goroutines")
		row.goroutines = append(row.goroutines, int(g))
		if p.name == "speed" {
			lag, ok := metricSum(body, "lambda_speed_consumer_lag_messages")
			if !ok {
				t.Errorf("%s has no lambda_speed_consumer_lag_messages", p.metrics)
			}
			row.lag = int(lag)
		}
	}
	return row
}

// metricSum is the sum of every series of a metric in a Prometheus text exposition,
// and whether it has any.
func metricSum(body, name string) (sum float64, found bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

func logSoakTable(t *testing.T, names []string, rows []soakSampleRow) {
	var b strings.Builder
	fmt.Fprintf(&b, "%6s", "t")
	for _, n := range names {
		fmt.Fprintf(&b, " | %-24s", n)
	}
	fmt.Fprintf(&b, " | %s\n", "speed lag / uncommitted")
	for _, r := range rows {
		fmt.Fprintf(&b, "%5ds", int(r.at.Seconds()))
		for i := range names {
			fmt.Fprintf(&b, " | %6.1f / %6.1f / %-6d", r.peakMB[i], r.rssMB[i], r.goroutines[i])
		}
		fmt.Fprintf(&b, " | %d / %d\n", r.lag, r.behind)
	}
	t.Logf("soak samples (per process: peak RSS since the sample before, RSS now, in MB; goroutines):\n%s", b.String())
}

// checkSoakLoad checks that no request failed on the server side or on the way.
func checkSoakLoad(t *testing.T, res []vegetaResult) {
	codes := map[int]int{}
	for _, r := range res {
		codes[r.Code]++
		if r.Code >= 500 || r.Code == 0 {
			t.Errorf("%s: %d %s %s", r.URL, r.Code, r.Error, r.Body)
			return
		}
	}
	t.Logf("status codes: %v; p50 %.1f ms, p99 %.1f ms", codes, ms(percentile(res, 0.5)), ms(percentile(res, 0.99)))
}

// checkSoakFlat checks that each process's RSS and goroutines do not grow, the first
// sample, taken before the load, left out: the last third's highest peak RSS against
// the first third's; the last third's fewest goroutines against the first third's most, since the
// API holds a goroutine per connection vegeta opens and a stall of the shared machine
// makes vegeta open more for a while (a leak raises the floor, a burst does not).
func checkSoakFlat(t *testing.T, names []string, rows []soakSampleRow) {
	rows = rows[1:]
	if len(rows) < 3 {
		t.Fatalf("%d samples under load, want at least 3 (LAMBDA_SOAK_SAMPLE too long for LAMBDA_SOAK_DURATION)", len(rows))
	}
	n := len(rows) / 3
	first, last := rows[:n], rows[len(rows)-n:]
	for i, name := range names {
		var rss0, rss1 float64
		var g0, g1 int
		for _, r := range first {
			rss0, g0 = max(rss0, r.peakMB[i]), max(g0, r.goroutines[i])
		}
		g1 = last[0].goroutines[i]
		for _, r := range last {
			rss1, g1 = max(rss1, r.peakMB[i]), min(g1, r.goroutines[i])
		}
		if rss1 > 1.5*rss0+20 {
			t.Errorf("%s RSS grew: peak %.1f MB in the last third, %.1f MB in the first", name, rss1, rss0)
		}
		if g1 > g0+20 {
			t.Errorf("%s goroutines grew: at least %d in the last third, at most %d in the first", name, g1, g0)
		}
	}
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return d
}
