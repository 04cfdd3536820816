package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/embedded"
)

// KafkaBrokersEnv names a real Kafka cluster (comma-separated host:port) for
// the tests; unset, they run against an embedded broker.
const KafkaBrokersEnv = "LAMBDA_KAFKA_BROKERS"

// Kafka returns the bootstrap brokers for a test. With LAMBDA_KAFKA_BROKERS set
// it returns those; otherwise it starts an embedded broker on a free loopback
// port with its data directory under t.TempDir() and closes it at cleanup.
// Use Topic for the test's topics.
func Kafka(t testing.TB) []string {
	t.Helper()
	if env := os.Getenv(KafkaBrokersEnv); env != "" {
		var brokers []string
		for b := range strings.SplitSeq(env, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
		return brokers
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embedded.Start(ctx, embedded.Options{Dir: t.TempDir(), Addr: "127.0.0.1:0"}, kafkaLog(t))
	if err != nil {
		t.Fatalf("start embedded kafka: %v", err)
	}
	t.Cleanup(b.Close)
	return b.Addrs()
}

// Topic creates a topic with a name unique to this test and run, with the
// given number of partitions, and deletes it at cleanup.
func Topic(t testing.TB, brokers []string, partitions int) string {
	t.Helper()
	name := topicName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, kafkaLog(t), brokers, partitions, name); err != nil {
		t.Fatalf("create test topic: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kafka.DeleteTopics(ctx, brokers, name); err != nil {
			t.Errorf("delete test topic: %v", err)
		}
	})
	return name
}

// topicUnsafe matches what a topic name may not hold ('.' is left out too:
// Kafka treats '.' and '_' as colliding in metric names).
var topicUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

func topicName(t testing.TB) string {
	var suffix [6]byte
	_, _ = rand.Read(suffix[:]) // never fails (crypto/rand)
	base := topicUnsafe.ReplaceAllString(t.Name(), "-")
	if len(base) > 180 {
		base = base[:180]
	}
	return "test-" + base + "-" + hex.EncodeToString(suffix[:])
}

// kafkaLog reports only warnings and errors, to stderr: the embedded broker's
// goroutines may still log after the test is over, when t.Log would panic.
func kafkaLog(t testing.TB) *slog.Logger {
	h := slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})
	return slog.New(h).With("test", t.Name())
}
