package forward_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/forward"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// BenchmarkForwarder measures what the repartition step costs: the forwarder's
// events/s over a log of LAMBDA_BENCH_FORWARD_EVENTS demo-sized events (default
// 200,000, 6 partitions) with 0% and 100% stray events, from its start until it has
// committed the whole log, beside a bare consumer-group read of the same log
// (fetch and commit, no decoding): the floor it stands on.
func BenchmarkForwarder(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("LAMBDA_BENCH_FORWARD_EVENTS")); err == nil && v > 0 {
		n = v
	}
	brokers := testenv.Kafka(b)
	for _, c := range []struct {
		name  string
		stray bool
		raw   bool
	}{{"raw-read", false, true}, {"stray-0pct", false, false}, {"stray-100pct", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			var rate float64
			for range b.N {
				b.StopTimer()
				topic := testenv.Topic(b, brokers, partitions)
				dlq := testenv.Topic(b, brokers, 1)
				produceBench(b, brokers, topic, n, c.stray)
				ends := endOffsets(b, brokers, topic, partitions)
				group := fmt.Sprintf("%s-%d", topic, time.Now().UnixNano())
				b.StartTimer()
				began := time.Now()
				if c.raw {
					rawRead(b, brokers, topic, group, n)
				} else {
					e := env{brokers: brokers, topic: topic, dlq: dlq, group: group}
					stop := e.runQuiet(b)
					waitCommitted(b, brokers, group, topic, ends)
					if err := stop(); err != nil {
						b.Fatal(err)
					}
				}
				rate = float64(n) / time.Since(began).Seconds()
			}
			b.ReportMetric(rate, "events/s")
		})
	}
}

// runQuiet is run with the default batch size, logging only warnings.
func (e env) runQuiet(b *testing.B) func() error {
	home, err := kafka.NewWriter(e.brokers, e.topic)
	if err != nil {
		b.Fatal(err)
	}
	dlq, err := kafka.NewWriter(e.brokers, e.dlq)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	f, err := forward.New(forward.Config{Brokers: e.brokers, Topic: e.topic, GroupID: e.group}, home, dlq, prometheus.NewRegistry(), log)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	return func() error {
		cancel()
		err := <-done
		_ = home.Close()
		_ = dlq.Close()
		return err
	}
}

// produceBench writes n events of 1,000 entities, each in its home partition or,
// with stray, in the next one.
func produceBench(b *testing.B, brokers []string, topic string, n int, stray bool) {
	msgs := make([]kafkago.Message, 0, 10_000)
	ts := time.Now().Add(-time.Hour)
	value := 1.5
	for i := range n {
		e := event.Event{EventID: fmt.Sprintf("bench-%d", i), EntityID: fmt.Sprintf("user-%06d", i%1000), Type: "purchase",
			TS: ts.Add(time.Duration(i) * time.Millisecond), Value: &value, Attrs: map[string]string{"category": "books", "device": "ios"}}
		m := kafka.EventMessage(e)
		m.Partition = kafka.PartitionFor(m.Key, partitions)
		if stray {
			m.Partition = (m.Partition + 1) % partitions
		}
		if msgs = append(msgs, m); len(msgs) == cap(msgs) || i == n-1 {
			produce(b, brokers, topic, msgs)
			msgs = msgs[:0]
		}
	}
}

// rawRead reads n messages with a consumer group and commits them, in batches as
// the forwarder does: the floor.
func rawRead(b *testing.B, brokers []string, topic, group string, n int) {
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, GroupID: group, StartOffset: kafkago.FirstOffset,
		QueueCapacity: 20_000, MaxWait: 250 * time.Millisecond})
	defer r.Close()
	ctx := context.Background()
	last := map[int]kafkago.Message{}
	for i := range n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		last[m.Partition] = m
		if i%forward.DefaultBatchMessages == forward.DefaultBatchMessages-1 || i == n-1 {
			msgs := make([]kafkago.Message, 0, len(last))
			for _, m := range last {
				msgs = append(msgs, m)
			}
			if err := r.CommitMessages(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
			clear(last)
		}
	}
}
