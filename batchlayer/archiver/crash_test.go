package archiver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// childEnv, when set, makes the test binary run one archiver (configured by
// the variable's JSON childConfig) instead of the tests, until it is killed.
const childEnv = "LAMBDA_ARCHIVER_TEST_CHILD"

type childConfig struct {
	Brokers        []string
	Topic          string
	Group          string
	ClickHouseAddr string
	Database       string
	BatchRows      int
	// KillAfterInserts makes the child SIGKILL itself right after that many
	// inserts succeeded, before it commits the last one; 0 never.
	KillAfterInserts int
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		runChild(spec)
		os.Exit(3) // runChild returns only on failure
	}
	os.Exit(m.Run())
}

func runChild(spec string) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("child", os.Getpid())
	var cfg childConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		log.Error("child config", "err", err)
		return
	}
	ctx := context.Background()
	conn, err := store.OpenClickHouse(ctx, cfg.ClickHouseAddr, cfg.Database, store.ClickHouseAuth{})
	if err != nil {
		log.Error("child clickhouse", "err", err)
		return
	}
	var ch archiver.ClickHouse = conn
	if cfg.KillAfterInserts > 0 {
		ch = &killer{ClickHouse: conn, after: cfg.KillAfterInserts}
	}
	a := archiver.New(archiver.Config{Brokers: cfg.Brokers, Topic: cfg.Topic, GroupID: cfg.Group, Database: cfg.Database,
		BatchRows: cfg.BatchRows, FlushInterval: 100 * time.Millisecond, SessionTimeout: testSessionTimeout}, ch, prometheus.NewRegistry(), log)
	err = a.Run(ctx) // ctx never ends: the child runs until killed
	log.Error("child archiver returned", "err", err)
}

// killer is a ClickHouse connection that SIGKILLs its own process right after
// the after-th successful insert: the rows are in ClickHouse, the offsets not
// committed.
type killer struct {
	archiver.ClickHouse
	after, inserts int
}

func (k *killer) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := k.ClickHouse.PrepareBatch(ctx, query, opts...)
	if err != nil {
		return nil, err
	}
	return &killingBatch{Batch: b, k: k}, nil
}

type killingBatch struct {
	driver.Batch
	k *killer
}

func (b *killingBatch) Send() error {
	if err := b.Batch.Send(); err != nil {
		return err
	}
	if b.k.inserts++; b.k.inserts == b.k.after {
		p, _ := os.FindProcess(os.Getpid())
		_ = p.Kill()
		select {} // wait for the signal
	}
	return nil
}

// child is an archiver running in a child process.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan error
}

func startChild(t *testing.T, cfg childConfig) *child {
	t.Helper()
	spec, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan error, 1)}
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		c.done <- <-c.done
		if t.Failed() {
			t.Logf("child %d log:\n%s", c.cmd.Process.Pid, c.stderr.String())
		}
	})
	return c
}

// wait waits for the child to exit and checks that it was killed.
func (c *child) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("child exited with %v, want killed; its log:\n%s", err, c.stderr.String())
		}
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		c.done <- <-c.done
		t.Fatalf("child still running after %v; its log:\n%s", timeout, c.stderr.String())
	}
}

// TestCrashMidStreamLosesNothing kills archivers (separate processes, SIGKILL:
// no flush, no commit, no leaving the group) twice while events stream in,
// then lets a new member of the group finish: every event is archived, the
// dedup query sees each exactly once, and the engine collapses the redelivered
// rows on merge.
func TestCrashMidStreamLosesNothing(t *testing.T) {
	const (
		partitions = 4
		n          = 30_000
	)
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, partitions)
	ch, db := testenv.ClickHouse(t)
	group := topic + "-archiver"
	began := time.Now()
	events := demoEvents(n, 8)
	produceEvents(t, brokers, topic, events[:n/2])
	// Merges collapse redelivered rows at any time; stop them to count the duplicates.
	if err := ch.Exec(context.Background(), "SYSTEM STOP MERGES events"); err != nil {
		t.Fatal(err)
	}

	cfg := childConfig{Brokers: brokers, Topic: topic, Group: group, Database: db, BatchRows: 2000, ClickHouseAddr: clickHouseAddr()}
	rows := func() uint64 { return queryInt(t, ch, "SELECT count() FROM events") }
	coverage := func() map[int]int64 {
		cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		return cov
	}

	// 1. Killed right after its third insert, before committing it.
	crash := cfg
	crash.KillAfterInserts = 3
	startChild(t, crash).wait(t, time.Minute)
	cov := coverage()
	checkBelowCoverage(t, ch, cov)
	t.Logf("crash 1 (after the 3rd insert, before its commit): %d rows in ClickHouse, %d distinct offsets, %d messages committed", rows(), archived(t, ch), sum(cov))
	if int64(rows()) <= sum(cov) {
		t.Errorf("%d rows, %d committed: want the last insert uncommitted", rows(), sum(cov))
	}

	// 2. Killed at an arbitrary point while the second half streams in.
	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Once the new member has taken over from the dead one (after its session timeout).
	before := archived(t, ch)
	c := startChild(t, cfg)
	testenv.WaitFor(t, time.Minute, "the second archiver at work", func() bool { return archived(t, ch) > before })
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for chunk := range slices.Chunk(events[n/2:], 250) {
			if err := w.WriteEvents(context.Background(), chunk); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	testenv.WaitFor(t, time.Minute, "the second archiver in the middle of the stream", func() bool { return archived(t, ch) > uint64(n/2+n/6) })
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 10*time.Second)
	select {
	case <-produced:
		t.Log("crash 2 came after the stream ended")
	default:
	}
	cov = coverage()
	checkBelowCoverage(t, ch, cov)
	t.Logf("crash 2 (SIGKILL mid-stream): %d rows in ClickHouse, %d distinct offsets, %d messages committed", rows(), archived(t, ch), sum(cov))

	// 3. A new member of the group takes over and finishes.
	<-produced
	ends := endOffsets(t, brokers, topic, partitions)
	a := start(t, archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, FlushInterval: 100 * time.Millisecond}, ch)
	testenv.WaitFor(t, time.Minute, "the whole log archived and committed", func() bool { return maps.Equal(coverage(), ends) })
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, ch, brokers, group, topic, ends)

	raw := rows()
	dedup := queryInt(t, ch, "SELECT count() FROM (SELECT kafka_partition, kafka_offset FROM events LIMIT 1 BY kafka_partition, kafka_offset)")
	ids := queryInt(t, ch, "SELECT uniqExact(event_id) FROM (SELECT event_id, kafka_partition, kafka_offset FROM events LIMIT 1 BY kafka_partition, kafka_offset)")
	differing := queryInt(t, ch, `SELECT count() FROM (SELECT kafka_partition, kafka_offset FROM events
		GROUP BY kafka_partition, kafka_offset HAVING uniqExact(event_id, entity_id, type, ts_us, value, has_value) > 1)`)
	t.Logf("raw rows %d = %d events + %d raw duplicates (redelivered after the crashes); dedup query: %d rows, %d distinct event_id",
		raw, n, raw-n, dedup, ids)
	if dedup != n || ids != n {
		t.Errorf("dedup query: %d rows, %d distinct event_id; want %d each", dedup, ids, n)
	}
	if raw <= n {
		t.Errorf("%d raw rows, want duplicates of the insert crash 1 left uncommitted", raw)
	}
	if differing != 0 {
		t.Errorf("%d (partition, offset) with differing rows, want redeliveries identical", differing)
	}

	// The ReplacingMergeTree collapses the duplicates when it merges. An OPTIMIZE that
	// finds a merge of the same parts running (the ones START MERGES lets begin) does
	// nothing and says nothing in 18.16, so it is asked again a few times.
	if err := ch.Exec(context.Background(), "SYSTEM START MERGES events"); err != nil {
		t.Fatalf("start merges: %v", err)
	}
	var got uint64
	for try := 0; try < 10 && got != n; try++ {
		if err := ch.Exec(context.Background(), "OPTIMIZE TABLE events FINAL"); err != nil {
			t.Fatalf("optimize: %v", err)
		}
		if got = rows(); got != n {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if got != n {
		t.Errorf("%d rows after OPTIMIZE FINAL (10 times), want %d", got, n)
	}
	checkRows(t, ch, events, partitions, began)
}
