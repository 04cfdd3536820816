package tests

import (
	"context"
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
// replicas and, keyless, straight to Kafka (the forwarder moves them home); one speed
// process is SIGKILLed in the middle of the second phase and the other takes its
// partitions over. Afterwards every entity's answer, from either replica, equals the
// fold of its unique events (nothing lost, nothing counted twice), and the two
// schedulers, firing at the same instants, started exactly one run per firing.
func TestRolesAsProcesses(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, _ := freshPlatform(t)
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

	// Phase A, then the schedulers, and the first scheduled run over it.
	produce(rolesPerPhase, nil)
	waitCommitted(t, ctx, brokers, e2eArchiver)
	checkRoleMetrics(t, archiver, []string{"lambda_batch_archiver_", "lambda_ingest_forwarded_"}, []string{"lambda_speed_", "lambda_serving_", "lambda_batch_run_"})
	schedulers := []*process{start(t, env, "up", "--roles", "scheduler"), start(t, env, "up", "--roles", "scheduler")}
	checkRoleMetrics(t, schedulers[0], []string{"lambda_batch_schedule_", "lambda_batch_run_"}, []string{"lambda_speed_", "lambda_serving_", "lambda_batch_archiver_"})
	first := waitScheduledRun(t, ctx, pool, time.Now())
	t.Logf("scheduled run %d published", first)

	// Phase B: one speed process killed halfway through.
	killed := time.Now()
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
	waitCommitted(t, ctx, brokers, e2eArchiver)
	last := waitScheduledRun(t, ctx, pool, time.Now())
	for _, api := range urls {
		testenv.WaitFor(t, 30*time.Second, fmt.Sprintf("%s serves run %d", api, last), func() bool { return servedRun(t, api) >= last })
	}
	for i, api := range urls {
		p.checkAnswers(api, model, fmt.Sprintf("API replica %d, after run %d", i+1, last))
	}

	// Exactly one run per firing across the two schedulers.
	for _, s := range schedulers {
		s.stop(t, 30*time.Second)
	}
	list, err := runs.List(ctx, pool, 1000)
	if err != nil {
		t.Fatal(err)
	}
	slots := map[int64]int64{}
	for _, r := range list {
		if r.Trigger != runs.TriggerCron {
			t.Errorf("run %d: trigger %s, want cron (nothing else triggers here)", r.ID, r.Trigger)
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
	started, skipped := 0, 0
	for i, s := range schedulers {
		out := s.output()
		st, sk := strings.Count(out, `msg="scheduled batch run started"`), strings.Count(out, `msg="scheduled batch run skipped`)
		t.Logf("scheduler %d: %d firings started a run, %d found one running", i+1, st, sk)
		if sk == 0 {
			t.Errorf("scheduler %d never found the other's run running: did the two fire together?", i+1)
		}
		started, skipped = started+st, skipped+sk
	}
	if started != len(list) || skipped < started {
		t.Errorf("%d firings started runs, %d found one running, %d runs recorded: want one run per firing, the other replica skipping it",
			started, skipped, len(list))
	}
	if strings.Contains(archiver.output()+apis[0].output()+speeds[0].output(), "level=ERROR") {
		t.Errorf("errors logged by the surviving processes")
	}
	t.Logf("roles as processes in %s: %d scheduled runs", time.Since(began).Round(100*time.Millisecond), len(list))
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
