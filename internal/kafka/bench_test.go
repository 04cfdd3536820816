package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

const benchValueSize = 125

// BenchmarkWriter measures the Writer's produce throughput with 125-byte
// messages and 10,000 entity keys into 6 partitions (testenv's broker: the
// embedded one unless LAMBDA_KAFKA_BROKERS is set), acks=all.
//
//   - calls-of-1000: WriteMessages with 1000 messages per call, per codec.
//   - single-x64: 64 goroutines each writing one message per call, as the
//     REST endpoint does; batching then comes from concurrent calls.
func BenchmarkWriter(b *testing.B) {
	brokers := testenv.Kafka(b)
	for _, codec := range []compress.Compression{kafka.WriterCompression, 0, kafkago.Snappy, kafkago.Zstd} {
		name := "none"
		if codec != 0 {
			name = codec.String()
		}
		b.Run("calls-of-1000/"+name, func(b *testing.B) {
			w := benchWriter(b, brokers)
			w.Compression = codec
			msgs := make([]kafkago.Message, 1000)
			b.SetBytes(benchValueSize)
			sent := 0
			for b.Loop() {
				msgs[sent%len(msgs)] = benchMessage(sent)
				sent++
				if sent%len(msgs) == 0 {
					if err := w.WriteMessages(context.Background(), msgs...); err != nil {
						b.Fatal(err)
					}
				}
			}
			if rest := sent % len(msgs); rest > 0 {
				if err := w.WriteMessages(context.Background(), msgs[:rest]...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
	b.Run("single-x64", func(b *testing.B) {
		w := benchWriter(b, brokers)
		b.SetBytes(benchValueSize)
		b.SetParallelism(32) // × GOMAXPROCS (2 here) = 64 writers
		began := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if err := w.WriteMessages(context.Background(), benchMessage(i)); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "msgs/s")
	})
}

func benchWriter(b *testing.B, brokers []string) *kafka.Writer {
	b.Helper()
	w, err := kafka.NewWriter(brokers, testenv.Topic(b, brokers, 6))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return w
}

func benchMessage(i int) kafkago.Message {
	v := fmt.Appendf(make([]byte, 0, benchValueSize),
		`{"event_id":"%012d","entity_id":"entity-%05d","type":"view","ts":"2026-01-01T00:00:00Z","value":1.5}`, i, i%10_000)
	for len(v) < benchValueSize {
		v = append(v, ' ')
	}
	return kafkago.Message{Key: fmt.Appendf(nil, "entity-%05d", i%10_000), Value: v[:benchValueSize]}
}
