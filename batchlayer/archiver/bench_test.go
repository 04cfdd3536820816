package archiver_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const (
	benchEvents     = 500_000
	benchPartitions = 6
)

// BenchmarkArchive measures, on the same 500k demo events (testenv's broker and
// ClickHouse server), side by side:
//
//   - archiver: the whole archiver end to end, from joining the group to the
//     last offset committed: fetch, decode, column building, insert, commit;
//   - kafka-fetch-decode: a bare consumer group reading and decoding the same
//     messages, committing every 50k, without ClickHouse;
//   - clickhouse-insert: a bare column-append insert of the same rows, already
//     in columns, in inserts of 50k rows (the archiver's default batch).
//
// Each iteration goes through all the events; run with -benchtime 1x (or Nx).
func BenchmarkArchive(b *testing.B) {
	brokers := testenv.Kafka(b)
	topic := testenv.Topic(b, brokers, benchPartitions)
	events := demoEvents(benchEvents, 9)
	began := time.Now()
	produceEvents(b, brokers, topic, events)
	b.Logf("produced %d events in %v", len(events), time.Since(began).Round(time.Millisecond))
	ends := endOffsets(b, brokers, topic, benchPartitions)

	b.Run("archiver", func(b *testing.B) {
		ch, db := testenv.ClickHouse(b)
		var total time.Duration
		for range b.N {
			group := fmt.Sprintf("%s-archiver-%d", topic, time.Now().UnixNano()) // fresh with every -count
			a := archiver.New(archiver.Config{Brokers: brokers, Topic: topic, GroupID: group, Database: db},
				ch, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			began := time.Now()
			go func() { done <- a.Run(ctx) }()
			for {
				cov, err := archiver.Coverage(context.Background(), brokers, group, topic)
				if err != nil {
					b.Fatal(err)
				}
				if maps.Equal(cov, ends) {
					break
				}
				if time.Since(began) > 5*time.Minute {
					b.Fatalf("archived %d of %d events in 5 minutes", sum(cov), benchEvents)
				}
				time.Sleep(10 * time.Millisecond)
			}
			total += time.Since(began)
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
	})

	b.Run("kafka-fetch-decode", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: brokers, Topic: topic, GroupID: fmt.Sprintf("%s-fetch-%d", topic, time.Now().UnixNano()),
				StartOffset: kafkago.FirstOffset, QueueCapacity: 20_000, MaxWait: 500 * time.Millisecond})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			began := time.Now()
			last := map[int]kafkago.Message{}
			for n := 1; n <= benchEvents; n++ {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := event.Decode(m.Value); err != nil {
					b.Fatal(err)
				}
				last[m.Partition] = m
				if n%archiver.DefaultBatchRows == 0 || n == benchEvents {
					if err := r.CommitMessages(ctx, slices.Collect(maps.Values(last))...); err != nil {
						b.Fatal(err)
					}
				}
			}
			total += time.Since(began)
			cancel()
			_ = r.Close()
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
	})

	b.Run("clickhouse-insert", func(b *testing.B) {
		ch, _ := testenv.ClickHouse(b)
		cols := columnsOf(events)
		var total time.Duration
		for range b.N {
			began := time.Now()
			for lo := 0; lo < len(events); lo += archiver.DefaultBatchRows {
				hi := min(lo+archiver.DefaultBatchRows, len(events))
				ins, err := ch.PrepareBatch(context.Background(), "INSERT INTO events (kafka_partition, kafka_offset, event_id, entity_id, type, ts, ts_us, value, has_value, attrs_keys, attrs_values, ingested_at)")
				if err != nil {
					b.Fatal(err)
				}
				for i, col := range cols.slice(lo, hi) {
					if err := ins.Column(i).Append(col); err != nil {
						b.Fatal(err)
					}
				}
				if err := ins.Send(); err != nil {
					b.Fatal(err)
				}
			}
			total += time.Since(began)
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(b.N*benchEvents)/total.Seconds(), "events/s")
	})
}

// columns are events as the columns of the events table.
type columns struct {
	partition            []int32
	offset               []int64
	eventID, entityID    []string
	typ                  []string
	ts, tsUS, ingestedAt []int64
	value                []float64
	hasValue             []uint8
	attrKeys, attrValues [][]string
}

func columnsOf(events []event.Event) *columns {
	c := &columns{}
	next := map[int32]int64{}
	now := time.Now().Unix()
	for _, e := range events {
		p := int32(kafka.PartitionFor(e.Key(), benchPartitions))
		c.partition = append(c.partition, p)
		c.offset = append(c.offset, next[p])
		next[p]++
		c.eventID = append(c.eventID, e.EventID)
		c.entityID = append(c.entityID, e.EntityID)
		c.typ = append(c.typ, e.Type)
		c.ts = append(c.ts, min(max(e.TS.Unix(), 0), math.MaxUint32))
		c.tsUS = append(c.tsUS, e.TS.UnixMicro())
		c.ingestedAt = append(c.ingestedAt, now)
		var v float64
		var has uint8
		if e.Value != nil {
			v, has = *e.Value, 1
		}
		c.value = append(c.value, v)
		c.hasValue = append(c.hasValue, has)
		keys := slices.Sorted(maps.Keys(e.Attrs))
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = e.Attrs[k]
		}
		c.attrKeys = append(c.attrKeys, keys)
		c.attrValues = append(c.attrValues, values)
	}
	return c
}

// slice returns rows lo..hi of every column, in the table's insert order.
func (c *columns) slice(lo, hi int) []any {
	return []any{c.partition[lo:hi], c.offset[lo:hi], c.eventID[lo:hi], c.entityID[lo:hi], c.typ[lo:hi],
		c.ts[lo:hi], c.tsUS[lo:hi], c.value[lo:hi], c.hasValue[lo:hi], c.attrKeys[lo:hi], c.attrValues[lo:hi], c.ingestedAt[lo:hi]}
}
