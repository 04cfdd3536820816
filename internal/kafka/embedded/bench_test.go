package embedded_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/embedded"
)

// BenchmarkStart measures Start: in memory, on a new data directory, and on
// one holding the given number of 125-byte messages in 6 partitions.
func BenchmarkStart(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchStart(b, "") })
	b.Run("new-dir", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			b.StartTimer()
			s, err := embedded.Start(context.Background(), embedded.Options{Dir: dir, Addr: "127.0.0.1:0"}, quiet())
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
	})
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("dir-%d-msgs", n), func(b *testing.B) {
			dir := b.TempDir()
			fill(b, dir, n)
			benchStart(b, dir)
		})
	}
}

func benchStart(b *testing.B, dir string) {
	for b.Loop() {
		s, err := embedded.Start(context.Background(), embedded.Options{Dir: dir, Addr: "127.0.0.1:0"}, quiet())
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}

// fill writes n 125-byte messages to topic "events" in a broker on dir.
func fill(b *testing.B, dir string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := start(b, embedded.Options{Dir: dir, Addr: "127.0.0.1:0"})
	defer s.Close()
	if err := kafka.EnsureTopics(ctx, quiet(), s.Addrs(), 6, "events"); err != nil {
		b.Fatal(err)
	}
	w, err := kafka.NewWriter(s.Addrs(), "events")
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	msgs := make([]kafkago.Message, 10_000)
	for done := 0; done < n; done += len(msgs) {
		for i := range msgs {
			msgs[i] = kafkago.Message{Key: fmt.Appendf(nil, "entity-%06d", (done+i)%10_000), Value: value125(done + i)}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			b.Fatal(err)
		}
	}
}

func value125(i int) []byte {
	v := fmt.Appendf(nil, `{"event_id":"%012d","entity_id":"entity-%06d","type":"view","ts":"2026-01-01T00:00:00Z","value":1.5}`, i, i%10_000)
	for len(v) < 125 {
		v = append(v, ' ')
	}
	return v[:125]
}
