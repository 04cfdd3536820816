package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestFaultsBrokerRestart SIGKILLs the broker process and restarts it from its data
// directory on the same address, once while the two speed processes consume and once
// while they rebuild their deltas on a new batch run (2 shards): prebuild them while
// it runs, or replay the log once it is published. Events
// go in with duplicates before each kill and after each restart, and a last 2-shard
// run publishes after them. After each step every entity's answer from both API
// replicas equals the fold of its unique events: nothing lost, nothing counted twice.
// The fault matrix is logged in TestFaultsAtScale's format.
func TestFaultsBrokerRestart(t *testing.T) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	f, p, model := newFaultPlatform(t, ctx)
	gen := demogen.New(demogen.Config{Entities: faultEntities, Seed: 115, Start: time.Now().Add(-time.Hour), EventsPerSecond: 2})
	send := func(n int) {
		evs := take(gen, n)
		p.rest(f.urls[0], every(evs, 0))
		p.rest(f.urls[1], every(evs, 1))
		p.kafkaGo(append(every(evs, 2), every(evs, 3)...), false)
		p.kafkaGo(every(evs, 1), false) // duplicates: a quarter again
	}
	check := func(stage string) {
		f.waitCaughtUp()
		for i, api := range f.urls {
			p.checkAnswers(api, model, fmt.Sprintf("API replica %d, %s", i+1, stage))
		}
	}
	var matrix []string
	outcome := func(fault, got string) {
		matrix = append(matrix, fmt.Sprintf("%-42s| seed 1 | %s; answers = fold", fault, got))
	}

	// 1. While the speed processes consume.
	send(faultPerSeed)
	behind := f.speedBehind()
	consuming := f.restartBroker()
	send(faultPerSeed / 2)
	check("after a broker restart during consumption")
	outcome("broker SIGKILL during consumption", fmt.Sprintf("speed %d events behind at the kill; %s", behind, consuming))

	// 2. While the speed processes rebuild their deltas on a new run (prebuild them
	// while it runs, or replay the log once it is published): events sent after the
	// run took its cutoff are theirs to replay from the broker.
	// The kill lands milliseconds after the first one began, so the step is taken
	// again (up to 3 times) until a rebuild has failed.
	for attempt := 1; ; attempt++ {
		send(faultPerSeed / 2)
		f.waitCaughtUp()
		marks := []int{f.speeds[0].lineCount(), f.speeds[1].lineCount()}
		var seen int
		var rebuilding string
		published := f.publishAround(func() {
			send(faultPerSeed / 2)
			// The run needs the broker only for its cutoff, which it has taken.
			seen = f.waitRebuilding(slices.Clone(marks))
			rebuilding = f.restartBroker()
		})
		f.waitServed(published)
		send(faultPerSeed / 2)
		check(fmt.Sprintf("after a broker restart during the rebuild on run %d", published))
		failed, counts := f.rebuildFailures(marks)
		outcome("broker SIGKILL during the rebuild on a run", fmt.Sprintf("attempt %d: run %d published; killed as speed process %d began (pre)building; %s; %s",
			attempt, published, seen+1, rebuilding, counts))
		if failed > 0 {
			break
		}
		if attempt == 3 {
			t.Errorf("no delta rebuild failed in %d attempts: the broker restarts missed the rebuilds", attempt)
			break
		}
	}

	// 3. A batch run after the restarts folds every event once.
	last := f.batchRun()
	check(fmt.Sprintf("after run %d", last))
	outcome("2-shard batch run after the restarts", fmt.Sprintf("run %d published and served by both replicas", last))

	t.Logf("fault matrix (fault | seed | outcome), %d unique events of %d entities, in %s:\n%s",
		countUnique(p.unique), len(p.unique), time.Since(began).Round(100*time.Millisecond), strings.Join(matrix, "\n"))
}

// restartBroker SIGKILLs the broker and starts another on its data directory and
// address; it says how long the broker was away.
func (f *faultPlatform) restartBroker() string {
	killed := time.Now()
	f.broker.kill(f.t)
	f.broker = start(f.t, f.env, "up", "--roles", "broker")
	if addr := f.broker.waitLine(f.t, "kafka", 30*time.Second); addr != f.brokers {
		f.t.Fatalf("the restarted broker listens on %s, want %s", addr, f.brokers)
	}
	return fmt.Sprintf("broker back on its data dir in %s", time.Since(killed).Round(time.Millisecond))
}

// speedBehind is how many messages the speed group has not committed yet.
func (f *faultPlatform) speedBehind() int64 {
	ends, err := kafka.EndOffsets(f.ctx, []string{f.brokers}, e2eTopic)
	if err != nil {
		f.t.Fatal(err)
	}
	committed, err := kafka.Committed(f.ctx, []string{f.brokers}, e2eSpeed, e2eTopic)
	if err != nil {
		f.t.Fatal(err)
	}
	var n int64
	for p, end := range ends {
		n += end - max(0, committed[p])
	}
	return n
}

// batchRun runs a 2-shard batch run to its publication, waits until both replicas
// serve it and returns its id.
func (f *faultPlatform) batchRun() int64 {
	id := f.publishAround(func() {})
	f.waitServed(id)
	return id
}

// publishAround runs a 2-shard batch run, calls during once the run has taken its
// cutoff, and returns the run's id once it is published.
func (f *faultPlatform) publishAround(during func()) int64 {
	t, ctx := f.t, f.ctx
	var last int64
	if err := f.pool.QueryRow(ctx, "SELECT coalesce(max(id), 0) FROM batch_runs").Scan(&last); err != nil {
		t.Fatal(err)
	}
	batch := start(t, f.env, "batch", "run", "--shards", "2", "--kafka-brokers="+f.brokers)
	var id int64
	testenv.WaitFor(t, time.Minute, "the batch run to take its cutoff", func() bool {
		return f.pool.QueryRow(ctx, "SELECT id FROM batch_runs WHERE id > $1 AND cardinality(cutoff_offsets) > 0", last).Scan(&id) == nil
	})
	during()
	if err := <-batch.done; err != nil {
		t.Fatalf("lambda batch run: %v", err)
	}
	if r, err := runs.Get(ctx, f.pool, id); err != nil || r.Status != runs.StatusPublished {
		t.Fatalf("run %d after lambda batch run: %+v, %v", id, r, err)
	}
	return id
}

// waitServed waits until both replicas serve run id.
func (f *faultPlatform) waitServed(id int64) {
	for _, api := range f.urls {
		testenv.WaitFor(f.t, 30*time.Second, fmt.Sprintf("%s serves run %d", api, id), func() bool { return servedRun(f.t, api) == id })
	}
}

// rebuildingLines are what a speed process logs when it starts rebuilding its deltas
// on a run: prebuilding them while the run is in progress, or replaying the log once
// it is published when they were not prebuilt.
var rebuildingLines = []string{`msg="batch run in progress, prebuilding deltas"`, `msg="batch run published, rebuilding deltas"`}

// waitRebuilding waits until a speed process logs, after line marks[i], that it
// rebuilds its deltas, and returns which one did.
func (f *faultPlatform) waitRebuilding(marks []int) int {
	contains := func(l string) (string, bool) {
		return "", slices.ContainsFunc(rebuildingLines, func(s string) bool { return strings.Contains(l, s) })
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, s := range f.speeds {
			if _, ok := s.find(&marks[i], contains); ok {
				return i
			}
		}
		time.Sleep(time.Millisecond)
	}
	f.t.Fatal("no speed process began rebuilding its deltas within 30s of the publication")
	return 0
}

// rebuildFailures counts the failed delta rebuilds of the speed processes since
// line marks[i], and says how many each had and how many generations it joined.
func (f *faultPlatform) rebuildFailures(marks []int) (int, string) {
	total := 0
	var parts []string
	for i, s := range f.speeds {
		s.mu.Lock()
		failed, joined := 0, 0
		for _, l := range s.lines[marks[i]:] {
			if strings.Contains(l, `msg="delta rebuild failed, retrying"`) || strings.Contains(l, `msg="delta prebuild failed"`) {
				failed++
			}
			if strings.Contains(l, `msg="partitions assigned"`) {
				joined++
			}
		}
		s.mu.Unlock()
		total += failed
		parts = append(parts, fmt.Sprintf("speed %d: %d failed rebuilds, %d generations", i+1, failed, joined))
	}
	return total, strings.Join(parts, ", ")
}
