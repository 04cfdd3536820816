package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/embedded"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func start(t testing.TB, opts embedded.Options) *embedded.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embedded.Start(ctx, opts, quiet())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// TestRestartKeepsCommittedOffsets consumes part of a topic in a group and
// commits, restarts the broker from its data directory on the same address,
// and checks that a new reader of the group resumes right after the commit
// (nothing lost, nothing repeated) and that the messages are all still there.
func TestRestartKeepsCommittedOffsets(t *testing.T) {
	const (
		partitions = 3
		total      = 300
		before     = 100 // consumed and committed before the restart
		group      = "resume"
	)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	first := start(t, embedded.Options{Dir: dir, Addr: "127.0.0.1:0"})
	brokers := first.Addrs()
	produce(ctx, t, brokers, partitions, total)

	seen := map[string]bool{}
	consume(ctx, t, brokers, group, before, seen)
	first.Close()

	began := time.Now()
	second := start(t, embedded.Options{Dir: dir, Addr: brokers[0]})
	t.Logf("restart with %d messages took %v", total, time.Since(began))
	if got := second.Addrs(); len(got) != 1 || got[0] != brokers[0] {
		t.Fatalf("restarted on %v, want %v", got, brokers)
	}
	if n, err := kafka.PartitionCount(ctx, brokers, "events"); err != nil || n != partitions {
		t.Fatalf("after restart PartitionCount = %d, %v; want %d", n, err, partitions)
	}
	consume(ctx, t, brokers, group, total-before, seen)
	if len(seen) != total {
		t.Errorf("read %d distinct messages over both runs, want %d", len(seen), total)
	}

	// Nothing more for the group: it resumed exactly after the commits.
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	r := reader(brokers, group)
	if m, err := r.FetchMessage(short); err == nil {
		t.Errorf("group read message %s beyond the end", m.Value)
	}
	r.Close()

	// A new group replays every message.
	all := map[string]bool{}
	consume(ctx, t, brokers, "replay", total, all)
	if len(all) != total {
		t.Errorf("replay read %d distinct messages, want %d", len(all), total)
	}
}

// produce creates the topic "events" and writes total keyed messages, whose values are
// their sequence numbers.
func produce(ctx context.Context, t *testing.T, brokers []string, partitions, total int) {
	t.Helper()
	if err := kafka.EnsureTopics(ctx, quiet(), brokers, partitions, "events"); err != nil {
		t.Fatal(err)
	}
	w, err := kafka.NewWriter(brokers, "events")
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]kafkago.Message, total)
	for i := range msgs {
		msgs[i] = kafkago.Message{Key: fmt.Appendf(nil, "entity-%d", i%37), Value: fmt.Appendf(nil, "%d", i)}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func reader(brokers []string, group string) *kafkago.Reader {
	return kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers,
		GroupID: group,
		Topic:   "events",
		MaxWait: 100 * time.Millisecond,
	})
}

// consume reads and commits n messages in group, failing on a message already in seen.
func consume(ctx context.Context, t *testing.T, brokers []string, group string, n int, seen map[string]bool) {
	t.Helper()
	r := reader(brokers, group)
	defer r.Close()
	for range n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("group %s: fetch: %v", group, err)
		}
		if seen[string(m.Value)] {
			t.Fatalf("group %s: message %s read again", group, m.Value)
		}
		seen[string(m.Value)] = true
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("group %s: commit: %v", group, err)
		}
	}
}

func TestDataDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	start(t, embedded.Options{Dir: dir, Addr: "127.0.0.1:0"})
	_, err := embedded.Start(context.Background(), embedded.Options{Dir: dir, Addr: "127.0.0.1:0"}, quiet())
	if !errors.Is(err, embedded.ErrDirLocked) {
		t.Fatalf("second Start on the same dir: %v, want ErrDirLocked", err)
	}
}

func TestCloseReleasesDataDir(t *testing.T) {
	dir := t.TempDir()
	b := start(t, embedded.Options{Dir: dir, Addr: "127.0.0.1:0"})
	b.Close()
	b.Close() // idempotent
	if got := b.Addrs(); len(got) != 1 {
		t.Errorf("Addrs after Close = %v", got)
	}
	start(t, embedded.Options{Dir: dir, Addr: "127.0.0.1:0"})
}

func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = embedded.Start(context.Background(), embedded.Options{Addr: addr}, quiet())
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Start on a used address: %v, want an error naming %s", err, addr)
	}
}

func TestRejectsUndialableAddress(t *testing.T) {
	for _, addr := range []string{":9092", "0.0.0.0:9092", "[::]:9092", "localhost"} {
		if _, err := embedded.Start(context.Background(), embedded.Options{Addr: addr}, quiet()); err == nil {
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}

func TestInMemory(t *testing.T) {
	b := start(t, embedded.Options{Addr: "127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, quiet(), b.Addrs(), 2, "events"); err != nil {
		t.Fatal(err)
	}
	if n, err := kafka.PartitionCount(ctx, b.Addrs(), "events"); err != nil || n != 2 {
		t.Fatalf("PartitionCount = %d, %v; want 2", n, err)
	}
}
