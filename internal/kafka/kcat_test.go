package kafka_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestKcatMurmur2RandomMatchesWriter checks the package doc's advice: kcat
// (librdkafka) with -X partitioner=murmur2_random puts every key in the
// partition our Writer does, and its default partitioner does not.
func TestKcatMurmur2RandomMatchesWriter(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat is not installed: `make services-up` installs it (apt-get install kcat)")
	}
	const (
		partitions = 12
		keys       = 200
	)
	brokers := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var input bytes.Buffer
	var msgs []kafkago.Message
	for i := range keys {
		key := fmt.Sprintf("entity-%d", i)
		fmt.Fprintf(&input, "%s|v\n", key)
		msgs = append(msgs, kafkago.Message{Key: []byte(key), Value: []byte("v")})
	}

	// Where our Writer puts each key.
	ours := testenv.Topic(t, brokers, partitions)
	w, err := kafka.NewWriter(brokers, ours)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := kcatConsume(ctx, t, kcat, brokers, ours, keys)

	produce := func(extra ...string) map[string]int32 {
		topic := testenv.Topic(t, brokers, partitions)
		args := append([]string{"-P", "-b", strings.Join(brokers, ","), "-t", topic, "-K", "|"}, extra...)
		cmd := exec.CommandContext(ctx, kcat, args...)
		cmd.Stdin = bytes.NewReader(input.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
		return kcatConsume(ctx, t, kcat, brokers, topic, keys)
	}

	murmur := produce("-X", "partitioner=murmur2_random")
	for key, p := range want {
		if murmur[key] != p {
			t.Errorf("key %s: kcat murmur2_random partition %d, our writer %d", key, murmur[key], p)
		}
		if pf := int32(kafka.PartitionFor([]byte(key), partitions)); pf != p {
			t.Errorf("key %s: writer partition %d, PartitionFor %d", key, p, pf)
		}
	}

	deflt := produce()
	differ := 0
	for key, p := range want {
		if deflt[key] != p {
			differ++
		}
	}
	if differ == 0 {
		t.Error("kcat's default partitioner put every key where ours does; the documented -X partitioner=murmur2_random would be unneeded")
	}
	t.Logf("kcat default partitioner: %d of %d keys in another partition", differ, keys)
}

// kcatConsume reads n messages of topic with kcat and returns each key's partition.
func kcatConsume(ctx context.Context, t *testing.T, kcat string, brokers []string, topic string, n int) map[string]int32 {
	t.Helper()
	args := []string{"-C", "-b", strings.Join(brokers, ","), "-t", topic, "-o", "beginning", "-c", strconv.Itoa(n), "-f", "%k %p\n"}
	out, err := exec.CommandContext(ctx, kcat, args...).Output()
	if err != nil {
		t.Fatalf("kcat %v: %v", args, err)
	}
	parts := map[string]int32{}
	for line := range strings.Lines(string(out)) {
		key, p, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			t.Fatalf("kcat output line %q", line)
		}
		n, err := strconv.ParseInt(p, 10, 32)
		if err != nil {
			t.Fatalf("kcat output line %q: %v", line, err)
		}
		parts[key] = int32(n)
	}
	if len(parts) != n {
		t.Fatalf("kcat read %d keys of %s, want %d", len(parts), topic, n)
	}
	return parts
}
