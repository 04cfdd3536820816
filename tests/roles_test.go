package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const (
	rolesEntities = 40
	rolesPerPhase = 1200 // events per phase: half through the two API replicas, half keyless to Kafka
	// rolesSchedule fires on the wall clock every 5 s, so both schedulers fire together.
	rolesSchedule = "*/5 * * * * *"
)

// TestRolesAsProcesses runs one platform as separate `lambda up --roles` processes on
// one machine: the broker, the archiver with the forwarder, two API replicas, two speed
// processes (one consumer group) and two schedulers. Events go through both API
// replicas and, keyless, straight to Kafka (the forwarder moves them home). The two
// schedulers, firing at the same instants, start exactly one run per firing. Then,
// after the last run's cutoff, one speed process is SIGKILLed halfway through a second
// phase and the other takes its partitions over: every entity's answer from either
// replica, first from the speed layer, then after a batch run triggered on one replica,
// equals the fold of its unique events (nothing lost, nothing counted twice).
func TestRolesAsProcesses(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, token := freshPlatform(t)
	env = append(env, "LAMBDA_MODEL="+e2eModel, "LAMBDA_SPEED_SESSION_TIMEOUT=6s", "LAMBDA_BATCH_SCHEDULE="+rolesSchedule)
	run(t, ctx, env, "migrate")
	run(t, ctx, env, "model", "train", "--activate", "--events", "20000", "--entities", strconv.Itoa(rolesEntities))
	model := activeModel(t, ctx, pool)

	// The broker first: the other processes reach it at LAMBDA_KAFKA_EMBEDDED_ADDR.
	env = append(env, "LAMBDA_METRICS_ADDR=127.0.0.1:0")
	broker := start(t, env, "up", "--roles", "broker")
	brokers := broker.waitLine(t, "kafka", 30*time.Second)
	env = append(env, "LAMBDA_KAFKA_EMBEDDED_ADDR="+brokers)
	if out := broker.output(); strings.Contains(out, "migrated") {
		t.Errorf("the broker alone touched the databases:\n%s", out)
	}
	archiver := start(t, env, "up", "--roles", "archiver,forwarder")
	apis := []*process{start(t, env, "up", "--roles", "api"), start(t, env, "up", "--roles", "api")}
	speeds := []*process{start(t, env, "up", "--roles", "speed"), start(t, env, "up", "--roles", "speed")}
	urls := make([]string, len(apis))
	for i, p := range apis {
		urls[i] = p.waitLine(t, "api", time.Minute)
	}
	for _, api := range urls {
		testenv.WaitFor(t, time.Minute, api+"/readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	}
	checkRoleMetrics(t, speeds[0], []string{"lambda_speed_"}, []string{"lambda_batch_archiver_", "lambda_serving_", "lambda_batch_schedule_"})
	// Both speed processes hold partitions of one generation.
	testenv.WaitFor(t, 30*time.Second, "both speed processes assigned partitions of one generation", func() bool {
		g0, p0 := lastAssignment(speeds[0])
		g1, p1 := lastAssignment(speeds[1])
		return g0 == g1 && g0 > 0 && p0 > 0 && p1 > 0
	})

	p := &producers{t: t, ctx: ctx, brokers: brokers, unique: map[string]map[string]event.Event{}}
	gen := demogen.New(demogen.Config{Entities: rolesEntities, Seed: 15, Start: time.Now().Add(-2 * time.Hour), EventsPerSecond: 2})
	produce := func(n int, between func(chunk int)) {
		evs := take(gen, n)
		const chunks = 6
		size := len(evs) / chunks
		for c := range chunks {
			part := evs[c*size : (c+1)*size]
			p.rest(urls[c%2], every(part, 0))
			p.rest(urls[(c+1)%2], every(part, 1))
			p.kafkaGo(append(every(part, 2), every(part, 3)...), false)
			if between != nil {
				between(c)
			}
		}
	}

	// Phase A, then the two schedulers for a few firings.
	produce(rolesPerPhase, nil)
	waitCommitted(t, ctx, brokers, e2eArchiver)
	checkRoleMetrics(t, archiver, []string{"lambda_batch_archiver_", "lambda_ingest_forwarded_"}, []string{"lambda_speed_", "lambda_serving_", "lambda_batch_run_"})
	schedulers := []*process{start(t, env, "up", "--roles", "scheduler"), start(t, env, "up", "--roles", "scheduler")}
	checkRoleMetrics(t, schedulers[0], []string{"lambda_batch_schedule_", "lambda_batch_run_"}, []string{"lambda_speed_", "lambda_serving_", "lambda_batch_archiver_"})
	first := waitScheduledRun(t, ctx, pool, time.Now())
	waitScheduledRun(t, ctx, pool, time.Now())
	for _, s := range schedulers {
		s.stop(t, 30*time.Second)
	}
	cron := checkOneRunPerFiring(t, ctx, pool, schedulers)
	for _, api := range urls {
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("%s serves run %d or later", api, first), func() bool { return servedRun(t, api) >= first })
	}

	// Phase B, after the last run's cutoff, so that the speed layer answers it: one
	// speed process killed halfway through.
	var killed time.Time
	produce(rolesPerPhase, func(chunk int) {
		if chunk == 2 {
			if err := speeds[1].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = time.Now()
		}
	})
	waitCommittedFor(t, ctx, brokers, anyForwarder, 30*time.Second)
	waitCommittedFor(t, ctx, brokers, e2eSpeed, 45*time.Second)
	gen0, parts := lastAssignment(speeds[0])
	t.Logf("speed group committed every event %s after the kill; the survivor holds %d partitions (generation %d)",
		time.Since(killed).Round(100*time.Millisecond), parts, gen0)
	if parts != 6 {
		t.Errorf("the surviving speed process holds %d partitions, want all 6", parts)
	}
	for i, api := range urls {
		p.checkAnswers(api, model, fmt.Sprintf("API replica %d, speed layer after the kill", i+1))
	}
	bySpeed := 0
	for id := range p.unique {
		var pr e2ePrediction
		if _, body := get(t, urls[0]+"/v1/entities/"+id+"/prediction"); json.Unmarshal([]byte(body), &pr) == nil && pr.Source == "speed" {
			bySpeed++
		}
	}
	if t.Logf("%d of %d entities answered by the speed layer after the kill", bySpeed, len(p.unique)); bySpeed == 0 {
		t.Error("no answer came from the speed layer: the kill was not put to the test")
	}

	// A batch run over everything, triggered on one replica, served by both.
	waitCommitted(t, ctx, brokers, e2eArchiver)
	last := triggerRun(t, urls[1], token)
	for i, api := range urls {
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("%s serves run %d", api, last), func() bool { return servedRun(t, api) == last })
		p.checkAnswers(api, model, fmt.Sprintf("API replica %d, after run %d", i+1, last))
	}
	if strings.Contains(archiver.output()+apis[0].output()+speeds[0].output(), "level=ERROR") {
		t.Errorf("errors logged by the surviving processes")
	}
	t.Logf("roles as processes in %s: %d scheduled runs", time.Since(began).Round(100*time.Millisecond), cron)
}

// checkOneRunPerFiring checks that the stopped schedulers, firing together, started
// one run per firing, and returns how many.
func checkOneRunPerFiring(t *testing.T, ctx context.Context, pool runs.DB, schedulers []*process) int {
	t.Helper()
	list, err := runs.List(ctx, pool, 1000)
	if err != nil {
		t.Fatal(err)
	}
	slots := map[int64]int64{}
	for _, r := range list {
		if r.Trigger != runs.TriggerCron {
			t.Errorf("run %d: trigger %s, want cron (nothing else triggered yet)", r.ID, r.Trigger)
		}
		slot := r.StartedAt.Unix() / 5
		if other, dup := slots[slot]; dup {
			t.Errorf("runs %d and %d started in the same 5 s firing (%s)", other, r.ID, r.StartedAt.Format(time.RFC3339Nano))
		}
		slots[slot] = r.ID
		if r.Status != runs.StatusPublished && r.Status != runs.StatusExpired {
			t.Errorf("run %d: %s %s", r.ID, r.Status, r.Error)
		}
	}
	// Each scheduler's log says, per firing, whether it started the run or found it
	// running; a firing's lines fall in its 5 s slot.
	started, together := map[int64]int{}, 0
	skipped := map[int64]int{}
	for _, s := range schedulers {
		for _, m := range firingLine.FindAllStringSubmatch(s.output(), -1) {
			at, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatal(err)
			}
			if m[2] == "started" {
				started[at.Unix()/5]++
			} else {
				skipped[at.Unix()/5]++
			}
		}
	}
	for slot, n := range started {
		if n != 1 {
			t.Errorf("firing at %s: %d schedulers started a run, want 1", time.Unix(slot*5, 0).Format(time.TimeOnly), n)
		}
		if skipped[slot] > 0 {
			together++
		}
	}
	t.Logf("%d firings started %d runs; at %d of them the other scheduler found the run running", len(started), len(list), together)
	if len(started) != len(list) || together == 0 {
		t.Errorf("%d firings started runs, %d runs recorded, %d firings seen by both schedulers: want one run per firing, seen by both",
			len(started), len(list), together)
	}
	return len(list)
}

// lastAssignment is the generation and partition count of the last assignment a speed
// process logged.
func lastAssignment(p *process) (generation, partitions int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		m := assignedLine.FindStringSubmatch(p.lines[i])
		if m == nil {
			continue
		}
		generation, _ = strconv.Atoi(m[1])
		return generation, len(strings.Fields(m[2]))
	}
	return 0, 0
}

var firingLine = regexp.MustCompile(`time=(\S+) level=INFO msg="scheduled batch run (started|skipped)`)

var assignedLine = regexp.MustCompile(`msg="partitions assigned".* generation=(\d+) partitions="?\[([0-9 ]*)\]`)

// checkRoleMetrics checks that the /metrics of a process without the API has the
// metrics of its roles and none of the others'.
func checkRoleMetrics(t *testing.T, p *process, want, unwanted []string) {
	t.Helper()
	addr := p.waitLine(t, "metrics", time.Minute)
	code, body := get(t, addr)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d", addr, code)
	}
	for _, prefix := range want {
		if !strings.Contains(body, "\n"+prefix) {
			t.Errorf("%s has no %s* metric", addr, prefix)
		}
	}
	for _, prefix := range unwanted {
		if strings.Contains(body, "\n"+prefix) {
			t.Errorf("%s has %s* metrics: a component of another role runs", addr, prefix)
		}
	}
}

// waitScheduledRun waits for a scheduled run that started after since to be published.
func waitScheduledRun(t *testing.T, ctx context.Context, pool runs.DB, since time.Time) int64 {
	t.Helper()
	var id int64
	testenv.WaitFor(t, 30*time.Second, "a scheduled run started after "+since.Format(time.TimeOnly)+" published", func() bool {
		list, err := runs.List(ctx, pool, 10)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(r runs.Run) bool { return r.StartedAt.After(since) && r.Status == runs.StatusPublished })
		if i >= 0 {
			id = list[i].ID
		}
		return i >= 0
	})
	return id
}
