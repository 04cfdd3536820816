package archiver_test

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// edgeEvents are events whose columns are easy to get wrong.
func edgeEvents() []event.Event {
	zero, neg := 0.0, -1.5e-300
	return []event.Event{
		{EventID: "edge-1969", EntityID: "edge-a", Type: "view", TS: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)},
		{EventID: "edge-2200", EntityID: "edge-b", Type: "view", TS: time.Date(2200, 1, 1, 0, 0, 0, 1000, time.UTC), Value: &neg},
		{EventID: "edge-zero-value", EntityID: "edge-c", Type: "purchase", TS: time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC), Value: &zero},
		{EventID: "edge-attrs", EntityID: "édge-ünïcode", Type: "click", TS: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Attrs: map[string]string{"z": "last", "a": "first", "m": "mid", "ключ": "значение", "empty": ""}},
	}
}

func TestArchivesEveryEventOnce(t *testing.T) {
	const (
		partitions = 6
		n          = 20_000
	)
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, partitions)
	ch, db := testenv.ClickHouse(t)
	began := time.Now()

	events := append(demoEvents(n-len(edgeEvents()), 1), edgeEvents()...)
	produceEvents(t, brokers, topic, events)
	group := topic + "-archiver"
	a := start(t, archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, BatchRows: 3000, FlushInterval: 200 * time.Millisecond}, ch)
	ends := endOffsets(t, brokers, topic, partitions)
	testenv.WaitFor(t, time.Minute, "every event archived and committed", func() bool {
		cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
		return err == nil && maps.Equal(cov, ends)
	})
	if err := a.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}

	if got := queryInt(t, ch, "SELECT count() FROM events"); got != n {
		t.Errorf("%d rows, want %d (no duplicates without a crash)", got, n)
	}
	if got := archived(t, ch); got != n {
		t.Errorf("%d distinct (partition, offset), want %d", got, n)
	}
	if got := queryInt(t, ch, "SELECT uniqExact(event_id) FROM events"); got != n {
		t.Errorf("%d distinct event_id, want %d", got, n)
	}
	checkCoverage(t, ch, brokers, group, topic, ends)
	checkRows(t, ch, events, partitions, began)

	if got := a.metric(t, "lambda_batch_archiver_rows_total"); got != n {
		t.Errorf("rows_total = %v, want %d", got, n)
	}
	batches := a.metric(t, "lambda_batch_archiver_batches_total")
	if batches < n/3000 || a.metric(t, "lambda_batch_archiver_insert_duration_seconds") != batches {
		t.Errorf("batches_total = %v, want at least %d and one insert duration each", batches, n/3000)
	}
	for p := range partitions {
		if lag := a.metric(t, "lambda_batch_archiver_consumer_lag_messages", "partition", strconv.Itoa(p)); lag != 0 {
			t.Errorf("lag of partition %d = %v, want 0", p, lag)
		}
	}
	if last := a.metric(t, "lambda_batch_archiver_last_flush_timestamp_seconds"); last < float64(began.Unix()) {
		t.Errorf("last_flush_timestamp_seconds = %v, before the test began", last)
	}
	a.lint(t)
	t.Logf("%d events in %v batches", n, batches)
}

// checkRows compares every row of the events table with the event produced.
func checkRows(t *testing.T, ch driver.Conn, events []event.Event, partitions int, began time.Time) {
	t.Helper()
	byID := make(map[string]int, len(events))
	for i, e := range events {
		byID[e.EventID] = i
	}
	rows, err := ch.Query(context.Background(), `SELECT kafka_partition, kafka_offset, event_id, entity_id, type,
		ts, ts_us, arrival_us, value, has_value, attrs_keys, attrs_values, ingested_at FROM events ORDER BY kafka_partition, kafka_offset`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	lastIndex := map[int32]int{}
	nextOffset := map[int32]int64{}
	bad := 0
	for rows.Next() {
		var (
			partition              int32
			offset, tsUS, arrival  int64
			eventID, entityID, typ string
			ts, ingestedAt         time.Time
			value                  float64
			hasValue               uint8
			attrKeys, attrValues   []string
		)
		if err := rows.Scan(&partition, &offset, &eventID, &entityID, &typ, &ts, &tsUS, &arrival, &value, &hasValue, &attrKeys, &attrValues, &ingestedAt); err != nil {
			t.Fatal(err)
		}
		i, ok := byID[eventID]
		if !ok {
			t.Fatalf("row with unknown event_id %q", eventID)
		}
		e := events[i]
		wantTS := min(max(e.TS.Unix(), 0), math.MaxUint32)
		wantKeys := slices.Sorted(maps.Keys(e.Attrs))
		var wantValues []string
		for _, k := range wantKeys {
			wantValues = append(wantValues, e.Attrs[k])
		}
		var wantValue float64
		var wantHas uint8
		if e.Value != nil {
			wantValue, wantHas = *e.Value, 1
		}
		for _, c := range []struct {
			col       string
			got, want any
		}{
			{"kafka_partition", partition, int32(kafka.PartitionFor(e.Key(), partitions))},
			{"kafka_offset", offset, nextOffset[partition]},
			{"entity_id", entityID, e.EntityID},
			{"type", typ, e.Type},
			{"ts", ts.Unix(), wantTS},
			{"ts_us", tsUS, e.TS.UnixMicro()},
			{"arrival_us: the message timestamp", arrival == e.TS.Truncate(time.Millisecond).UnixMicro() ||
				arrival >= began.Add(-time.Second).UnixMicro() && arrival <= time.Now().UnixMicro(), true},
			{"value", value, wantValue},
			{"has_value", hasValue, wantHas},
			{"attrs_keys", strings.Join(attrKeys, "\x00"), strings.Join(wantKeys, "\x00")},
			{"attrs_values", strings.Join(attrValues, "\x00"), strings.Join(wantValues, "\x00")},
			{"ingested_at in the test", ingestedAt.After(began.Add(-time.Second)) && ingestedAt.Before(time.Now().Add(time.Second)), true},
			{"produced after the previous row of the partition", i > lastIndex[partition] || nextOffset[partition] == 0, true},
		} {
			if c.got != c.want && bad < 20 {
				bad++
				t.Errorf("event %s (partition %d, offset %d): %s = %v, want %v", eventID, partition, offset, c.col, c.got, c.want)
			}
		}
		lastIndex[partition] = i
		nextOffset[partition] = offset + 1
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestInvalidAndStrayMessagesAreCountedAndSkipped(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 1)
	ch, db := testenv.ClickHouse(t)
	group := topic + "-archiver"

	good := demoEvents(300, 2)
	msg := func(key, value string) kafkago.Message {
		return kafkago.Message{Key: []byte(key), Value: []byte(value)}
	}
	mismatched := kafka.EventMessage(good[0])
	mismatched.Key = []byte("someone-else")
	poison := []struct {
		reason string
		m      kafkago.Message
	}{
		{"syntax", msg("user-000001", "not json at all")},
		{"syntax", msg("", "")},
		{"field", msg("user-000001", `{"event_id":"p1","entity_id":"user-000001","type":"view","ts":"yesterday"}`)},
		{"field", msg("user-000001", `{"event_id":"p2","entity_id":"user-000001","type":"view","ts":"2026-01-01T00:00:00Z","extra":1}`)},
		{"stray", mismatched}, // archived as the forwarder's copy, not here
		{"clock_skew", msg("user-000001", `{"event_id":"p3","entity_id":"user-000001","type":"view","ts":"2100-01-01T00:00:00Z"}`)},
		{"too_large", msg("user-000001", `{"event_id":"`+strings.Repeat("x", 70_000)+`"}`)},
		{"field", msg("user-000001", `{}`)}, // the last message of the log
	}
	var msgs []kafkago.Message
	for i, e := range good {
		msgs = append(msgs, kafka.EventMessage(e))
		if i%40 == 39 {
			msgs = append(msgs, poison[i/40].m)
		}
	}
	msgs = append(msgs, poison[len(poison)-1].m)
	produce(t, brokers, topic, msgs)

	a := start(t, archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, BatchRows: 70, FlushInterval: 100 * time.Millisecond}, ch)
	ends := endOffsets(t, brokers, topic, 1)
	testenv.WaitFor(t, 30*time.Second, "the whole log committed", func() bool {
		cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
		return err == nil && maps.Equal(cov, ends)
	})
	if got := archived(t, ch); got != uint64(len(good)) {
		t.Errorf("%d rows archived, want the %d good events", got, len(good))
	}
	want := map[string]float64{}
	for _, p := range poison {
		want[p.reason]++
	}
	for reason, n := range want {
		if got := a.metric(t, "lambda_batch_archiver_skipped_messages_total", "reason", reason); got != n {
			t.Errorf("skipped %s = %v, want %v", reason, got, n)
		}
	}

	// The stream goes on after them.
	more := demoEvents(100, 3)
	produceEvents(t, brokers, topic, more)
	ends = endOffsets(t, brokers, topic, 1)
	testenv.WaitFor(t, 30*time.Second, "the events after the poison archived", func() bool {
		return archived(t, ch) == uint64(len(good)+len(more))
	})
	if err := a.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Committed past the poison, which is not in ClickHouse.
	cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
	if err != nil || !maps.Equal(cov, ends) {
		t.Errorf("Coverage = %v, %v; want %v", cov, err, ends)
	}
	if got := archived(t, ch); int64(got) != ends[0]-int64(len(poison)) {
		t.Errorf("%d rows archived, want all %d messages but the %d poisoned", got, ends[0], len(poison))
	}
}

func TestShutdownFlushesAndCommits(t *testing.T) {
	const n = 5000
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 3)
	ch, db := testenv.ClickHouse(t)
	group := topic + "-archiver"
	produceEvents(t, brokers, topic, demoEvents(n, 4))

	// Neither the size nor the deadline is reached: only the shutdown flushes.
	a := start(t, archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, BatchRows: 10 * n, FlushInterval: time.Hour}, ch)
	time.Sleep(3 * time.Second) // long enough to fetch everything
	if got := archived(t, ch); got != 0 {
		t.Fatalf("%d rows archived before the shutdown, want none", got)
	}
	stopped := time.Now()
	if err := a.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("shutdown took %v", time.Since(stopped).Round(time.Millisecond))
	if got := archived(t, ch); got != n {
		t.Errorf("%d rows archived at shutdown, want %d", got, n)
	}
	checkCoverage(t, ch, brokers, group, topic, endOffsets(t, brokers, topic, 3))
}

// TestClickHouseDown runs the archiver through a proxy to the ClickHouse
// server that plays outages: every connection cut, new ones closed at once.
func TestClickHouseDown(t *testing.T) {
	const n = 3000
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 3)
	ch, db := testenv.ClickHouse(t)
	group := topic + "-archiver"
	p := newProxy(t, clickHouseAddr())
	viaProxy, err := store.OpenClickHouse(context.Background(), p.addr(), db, store.ClickHouseAuth{})
	if err != nil {
		t.Fatal(err)
	}
	defer viaProxy.Close()
	cfg := archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, BatchRows: 1000,
		FlushInterval: 100 * time.Millisecond, ShutdownTimeout: time.Second}
	zero := map[int]int64{0: 0, 1: 0, 2: 0}

	// An outage: retried, nothing committed, nothing lost.
	p.setDown(true)
	produceEvents(t, brokers, topic, demoEvents(n, 5))
	a := start(t, cfg, viaProxy)
	testenv.WaitFor(t, 30*time.Second, "three retries", func() bool { return a.metric(t, "lambda_batch_archiver_insert_retries_total") >= 3 })
	checkCoverage(t, ch, brokers, group, topic, zero)
	p.setDown(false)
	ends := endOffsets(t, brokers, topic, 3)
	testenv.WaitFor(t, 30*time.Second, "everything archived after the outage", func() bool {
		cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
		return err == nil && maps.Equal(cov, ends)
	})
	if got := queryInt(t, ch, "SELECT count() FROM events"); got != n {
		t.Errorf("%d rows after the outage, want %d", got, n)
	}

	// Down at shutdown: the messages held are counted, not committed, and
	// the next archiver of the group archives them.
	p.setDown(true)
	retries := a.metric(t, "lambda_batch_archiver_insert_retries_total")
	more := demoEvents(500, 6)
	produceEvents(t, brokers, topic, more)
	testenv.WaitFor(t, 30*time.Second, "a retry of the new batch", func() bool {
		return a.metric(t, "lambda_batch_archiver_insert_retries_total") > retries
	})
	time.Sleep(500 * time.Millisecond) // let the reader take the rest
	err = a.stop(t)
	if err == nil || !strings.Contains(err.Error(), "unflushed") {
		t.Errorf("Run = %v, want an error about unflushed messages", err)
	}
	unflushed := a.metric(t, "lambda_batch_archiver_unflushed_messages_total")
	if unflushed == 0 || unflushed > float64(len(more)) {
		t.Errorf("unflushed_messages_total = %v, want 1..%d", unflushed, len(more))
	}
	t.Logf("Run: %v; unflushed_messages_total %v", err, unflushed)
	checkCoverage(t, ch, brokers, group, topic, ends)

	p.setDown(false)
	start(t, cfg, viaProxy)
	ends = endOffsets(t, brokers, topic, 3)
	testenv.WaitFor(t, 30*time.Second, "the unflushed messages archived by the next archiver", func() bool {
		cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
		return err == nil && maps.Equal(cov, ends)
	})
	if got := archived(t, ch); got != n+uint64(len(more)) {
		t.Errorf("%d rows archived, want %d", got, n+len(more))
	}
}

func TestCoverage(t *testing.T) {
	const n = 20_000
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 4)
	ch, db := testenv.ClickHouse(t)
	group := topic + "-archiver"
	ctx := context.Background()

	if _, err := archiver.Coverage(ctx, brokers, group, topic+"-missing"); !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Errorf("Coverage of a missing topic: %v, want UnknownTopicOrPartition", err)
	}
	if _, err := archiver.Coverage(ctx, nil, group, topic); !errors.Is(err, kafka.ErrNoBrokers) {
		t.Errorf("Coverage without brokers: %v, want ErrNoBrokers", err)
	}
	checkCoverage(t, ch, brokers, group, topic, map[int]int64{0: 0, 1: 0, 2: 0, 3: 0})

	// While events stream in, every sample of the coverage is archived below it.
	a := start(t, archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, BatchRows: 700, FlushInterval: 50 * time.Millisecond}, ch)
	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for chunk := range slices.Chunk(demoEvents(n, 7), 500) {
			if err := w.WriteEvents(ctx, chunk); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	samples, growing := 0, 0
	var last int64
	for done := false; !done; samples++ {
		select {
		case <-produced:
			done = true
		case <-time.After(100 * time.Millisecond):
		}
		cov, err := archiver.Coverage(ctx, brokers, group, topic)
		if err != nil {
			t.Fatal(err)
		}
		checkBelowCoverage(t, ch, cov)
		if s := sum(cov); s > last {
			growing++
			last = s
		}
	}
	t.Logf("%d coverage samples while streaming, %d of them grew, all archived below", samples, growing)
	ends := endOffsets(t, brokers, topic, 4)
	testenv.WaitFor(t, 30*time.Second, "everything committed", func() bool {
		cov, err := archiver.Coverage(ctx, brokers, group, topic)
		return err == nil && maps.Equal(cov, ends)
	})
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, ch, brokers, group, topic, ends)
	if growing < 3 {
		t.Errorf("coverage grew in %d samples only, want it to move while streaming", growing)
	}
}

func TestWaitCaughtUp(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 3)
	ch, db := testenv.ClickHouse(t)
	group := topic + "-archiver"
	ctx := t.Context()

	if err := archiver.WaitCaughtUp(ctx, brokers, group, topic); err != nil {
		t.Fatalf("empty topic: %v, want caught up at once", err)
	}
	if err := archiver.WaitCaughtUp(ctx, brokers, group, topic+"-missing"); !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Errorf("missing topic: %v, want UnknownTopicOrPartition", err)
	}
	if err := archiver.WaitCaughtUp(ctx, nil, group, topic); !errors.Is(err, kafka.ErrNoBrokers) {
		t.Errorf("no brokers: %v, want ErrNoBrokers", err)
	}

	produceEvents(t, brokers, topic, demoEvents(5000, 3))
	notYet, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := archiver.WaitCaughtUp(notYet, brokers, group, topic); err == nil || notYet.Err() == nil {
		t.Fatalf("events in the log, no archiver: %v, want to wait until the context ends", err)
	}

	start(t, archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db, BatchRows: 700, FlushInterval: 50 * time.Millisecond}, ch)
	caughtUp, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := archiver.WaitCaughtUp(caughtUp, brokers, group, topic); err != nil {
		t.Fatalf("with the archiver running: %v", err)
	}
	checkCoverage(t, ch, brokers, group, topic, endOffsets(t, brokers, topic, 3))
}
