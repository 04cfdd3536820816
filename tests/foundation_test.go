package tests

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const partitions = 6

// TestUpProduceRestart runs `lambda up` with demo data on a fresh PostgreSQL and
// ClickHouse database and the embedded broker, produces more with `lambda produce`,
// checks every event is in Kafka, keyed and partitioned by entity, then restarts `up`
// on the same data dir: the events are still there.
func TestUpProduceRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	_, pgURL := testenv.EmptyPostgres(t)
	pgURL = strings.Replace(pgURL, "/lambda_test_", "/lambda_test_up_", 1) // a database `up` must create itself
	t.Cleanup(func() { dropDatabase(t, pgURL) })
	ch, chDB := testenv.EmptyClickHouse(t)
	env := upEnv(t, pgURL, chDB)

	up := start(t, env, "up", "--demo-events", "5000", "--demo-entities", "300")
	api := up.waitLine(t, "api", time.Minute)
	brokers := strings.Fields(up.waitLine(t, "kafka", time.Second))[0]

	// Ready once the demo model is trained and active.
	testenv.WaitFor(t, 2*time.Minute, "GET /readyz = 200", func() bool { code, _ := get(t, api+"/readyz"); return code == http.StatusOK })
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ready"`, "/metrics": "lambda_batch_archiver_rows_total"} {
		if code, body := get(t, api+path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %q, want 200 containing %s", path, code, body, want)
		}
	}
	if code, body := get(t, api+"/nope"); code != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("GET /nope = %d %q, want 404 with an error body", code, body)
	}

	run(t, ctx, env, "produce", "--events", "3000", "--entities", "50", "--seed", "7", "--kafka-brokers", brokers)
	waitForOffsets(t, ctx, brokers, 8000)
	checkEvents(t, ctx, brokers, 8000)

	// The schema is in place in both databases.
	var n uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN ('events', 'batch_view')", chDB).Scan(&n); err != nil || n != 2 {
		t.Errorf("clickhouse tables in %s: %d (err %v), want events and batch_view", chDB, n, err)
	}
	if out := run(t, ctx, env, "migrate", "--status"); !strings.Contains(out, "0 pending") || strings.Count(out, "0 pending") != 2 {
		t.Errorf("migrate --status after up:\n%s\nwant nothing pending", out)
	}

	up.stop(t, 20*time.Second)

	// Same data dir: the broker comes back with every event.
	up2 := start(t, env, "up")
	brokers = strings.Fields(up2.waitLine(t, "kafka", time.Minute))[0]
	if got := totalOffsets(t, ctx, brokers); got != 8000 {
		t.Errorf("after restart: %d events in the topic, want 8000", got)
	}
	up2.stop(t, 20*time.Second)
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// totalOffsets is the number of messages in the events topic (the sum of the
// partitions' end offsets; nothing is deleted here).
func totalOffsets(t *testing.T, ctx context.Context, brokers string) int64 {
	t.Helper()
	ends, err := kafka.EndOffsets(ctx, []string{brokers}, "events")
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	var total int64
	for _, end := range ends {
		total += end
	}
	return total
}

func waitForOffsets(t *testing.T, ctx context.Context, brokers string, want int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := totalOffsets(t, ctx, brokers)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("events topic holds %d messages, want %d", got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkEvents reads every message: each is a valid event, keyed by its entity, in the
// partition its key maps to, with a unique event id.
func checkEvents(t *testing.T, ctx context.Context, brokers string, want int) {
	t.Helper()
	ids := make(map[string]bool, want)
	for p := range partitions {
		r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{brokers}, Topic: "events", Partition: p, MaxWait: 100 * time.Millisecond})
		end, err := r.ReadLag(ctx)
		if err != nil {
			t.Fatalf("partition %d lag: %v", p, err)
		}
		for range end {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("partition %d: %v", p, err)
			}
			e, err := event.Decode(m.Value)
			if err != nil {
				t.Fatalf("partition %d offset %d: %v", p, m.Offset, err)
			}
			if string(m.Key) != e.EntityID || kafka.PartitionFor(m.Key, partitions) != p {
				t.Errorf("event %s of %s: key %q in partition %d, want key = entity in partition %d", e.EventID, e.EntityID, m.Key, p, kafka.PartitionFor(m.Key, partitions))
			}
			if ids[e.EventID] {
				t.Errorf("event id %s twice", e.EventID)
			}
			ids[e.EventID] = true
		}
		r.Close()
	}
	if len(ids) != want {
		t.Errorf("read %d distinct events, want %d", len(ids), want)
	}
}
