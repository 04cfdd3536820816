package archiver_test

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/store"
)

// testSessionTimeout is the shortest session timeout the embedded broker
// accepts: a killed archiver's partitions move on after it.
const testSessionTimeout = 6 * time.Second

// demoEvents returns n demo events.
func demoEvents(n int, seed int64) []event.Event {
	g := demogen.New(demogen.Config{Entities: 2000, Seed: seed})
	events := make([]event.Event, n)
	for i := range events {
		events[i] = g.Next()
	}
	return events
}

// produce writes msgs to topic in calls of 5000.
func produce(tb testing.TB, brokers []string, topic string, msgs []kafkago.Message) {
	tb.Helper()
	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for chunk := range slices.Chunk(msgs, 5000) {
		if err := w.WriteMessages(ctx, chunk...); err != nil {
			tb.Fatalf("produce: %v", err)
		}
	}
}

// produceEvents writes events to topic, keyed by entity.
func produceEvents(tb testing.TB, brokers []string, topic string, events []event.Event) {
	tb.Helper()
	msgs := make([]kafkago.Message, len(events))
	now := time.Now()
	for i, e := range events {
		msgs[i] = kafka.EventMessage(e)
		if e.TS.After(now) { // sent by a producer whose clock says so, or it would be invalid
			msgs[i].Time = e.TS
		}
	}
	produce(tb, brokers, topic, msgs)
}

// running is an archiver running in a goroutine.
type running struct {
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// start runs an archiver on cfg and ch until stop or the end of the test.
func start(tb testing.TB, cfg archiver.Config, ch archiver.ClickHouse) *running {
	tb.Helper()
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = testSessionTimeout
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	a := archiver.New(cfg, ch, reg, log)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// stop ends the archiver gracefully and returns Run's error.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(time.Minute):
		tb.Fatal("archiver did not stop within a minute")
		return nil
	}
}

// metric returns the value of the archiver's metric name (with labels, if any).
func (r *running) metric(tb testing.TB, name string, labels ...string) float64 {
	tb.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i, lp := range m.GetLabel() {
				if i*2+1 >= len(labels) || lp.GetName() != labels[i*2] || lp.GetValue() != labels[i*2+1] {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	tb.Fatalf("metric %s%v not found", name, labels)
	return 0
}

// lint checks the registry's metrics with promlint.
func (r *running) lint(tb testing.TB) {
	tb.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range problems {
		tb.Errorf("metric %s: %s", p.Metric, p.Text)
	}
}

// queryInt runs a query returning one unsigned integer.
func queryInt(tb testing.TB, ch driver.Conn, query string, args ...any) uint64 {
	tb.Helper()
	var n uint64
	if err := ch.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// archived is the number of distinct (partition, offset) in the events table.
func archived(tb testing.TB, ch driver.Conn) uint64 {
	return queryInt(tb, ch, "SELECT uniqExact(kafka_partition, kafka_offset) FROM events")
}

// endOffsets returns the log end offset of every partition of topic.
func endOffsets(tb testing.TB, brokers []string, topic string, partitions int) map[int]int64 {
	tb.Helper()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: &kafkago.Transport{}}
	req := &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafkago.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	ends := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			tb.Fatalf("list offsets of partition %d: %v", po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	return ends
}

// checkCoverage checks that Coverage reports want and that every offset
// below it is in the events table.
func checkCoverage(tb testing.TB, ch driver.Conn, brokers []string, group, topic string, want map[int]int64) {
	tb.Helper()
	cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
	if err != nil {
		tb.Fatalf("Coverage: %v", err)
	}
	if want != nil && !maps.Equal(cov, want) {
		tb.Errorf("Coverage = %v, want %v", cov, want)
	}
	checkBelowCoverage(tb, ch, cov)
}

// checkBelowCoverage checks that for every partition p every offset below
// cov[p] is in the events table.
func checkBelowCoverage(tb testing.TB, ch driver.Conn, cov map[int]int64) {
	tb.Helper()
	for p, c := range cov {
		got := queryInt(tb, ch, "SELECT uniqExact(kafka_offset) FROM events WHERE kafka_partition = ? AND kafka_offset < ?", int32(p), c)
		if int64(got) != c {
			tb.Errorf("partition %d: %d distinct offsets below the coverage %d in ClickHouse, want all", p, got, c)
		}
	}
}

func sum(m map[int]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}

// clickHouseAddr is the test server's address, as testenv finds it.
func clickHouseAddr() string {
	if addr := os.Getenv(store.EnvClickHouseAddr); addr != "" {
		return addr
	}
	return store.DefaultClickHouseAddr
}
