package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 4) // exists now
	fresh := topic + "-fresh"
	t.Cleanup(func() { _ = kafka.DeleteTopics(context.Background(), brokers, fresh) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for range 2 {
		if err := kafka.EnsureTopics(ctx, log, brokers, 4, topic, fresh); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	for _, name := range []string{topic, fresh} {
		if n, err := kafka.PartitionCount(ctx, brokers, name); err != nil || n != 4 {
			t.Errorf("PartitionCount(%s) = %d, %v; want 4", name, n, err)
		}
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("unexpected warning:\n%s", logs.String())
	}

	// Asking for another partition count keeps the topic and warns.
	logs.Reset()
	if err := kafka.EnsureTopics(ctx, log, brokers, 8, topic); err != nil {
		t.Fatalf("EnsureTopics with 8 partitions: %v", err)
	}
	if n, err := kafka.PartitionCount(ctx, brokers, topic); err != nil || n != 4 {
		t.Errorf("PartitionCount after asking for 8 = %d, %v; want 4 kept", n, err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "wanted=8") {
		t.Errorf("no warning about the partition count, logs:\n%s", logs.String())
	}
}

func TestEnsureTopicsMakesTopicUsableAtOnce(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatalf("write right after creating the topic: %v", err)
	}
}

func TestWriterNeverCreatesTopics(t *testing.T) {
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, 1) + "-missing"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()

	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.WriteMessages(ctx, kafkago.Message{Key: []byte("k"), Value: []byte("v")}); err == nil {
		t.Fatal("write to a missing topic succeeded")
	}
	if _, err := kafka.PartitionCount(context.Background(), brokers, topic); !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Errorf("PartitionCount of the missing topic: %v, want UnknownTopicOrPartition", err)
	}
}

func TestEnsureTopicsUnreachableBroker(t *testing.T) {
	for name, addr := range map[string]string{
		"refused": closedPort(t),
		"silent":  silentServer(t),
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()

			began := time.Now()
			err := kafka.EnsureTopics(ctx, slog.New(slog.DiscardHandler), []string{addr}, 1, "events")
			took := time.Since(began)
			if err == nil {
				t.Fatal("EnsureTopics succeeded")
			}
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error does not name the broker %s: %v", addr, err)
			}
			if took > 2*time.Second {
				t.Errorf("took %v, want it bounded by the 1 s context", took)
			}
			t.Logf("error after %v: %v", took.Round(time.Millisecond), err)
		})
	}
}

func TestNoBrokers(t *testing.T) {
	if err := kafka.EnsureTopics(context.Background(), slog.New(slog.DiscardHandler), nil, 1, "events"); !errors.Is(err, kafka.ErrNoBrokers) {
		t.Errorf("EnsureTopics: %v, want ErrNoBrokers", err)
	}
	if _, err := kafka.NewWriter(nil, "events"); !errors.Is(err, kafka.ErrNoBrokers) {
		t.Errorf("NewWriter: %v, want ErrNoBrokers", err)
	}
}

// silentServer returns the address of a server that accepts connections and
// never answers, like a hung broker.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
