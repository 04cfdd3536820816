package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// Java's murmur2 of these keys, as listed by librdkafka's rdmurmur2.c tests.
var javaMurmur2 = []struct {
	key  string
	hash uint32
}{
	{"kafka", 0xd067cf64},
	{"giberish123456789", 0x8f552b0c},
	{"1234", 0x9fc97b14},
	{"234", 0xe7c009ca},
	{"34", 0x873930da},
	{"4", 0x5a4b5ca1},
	{"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x78424f1c},
	{"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8b43f},
	{"", 0x106e08d9},
}

func TestPartitionForMatchesJavaMurmur2(t *testing.T) {
	for _, v := range javaMurmur2 {
		for _, n := range []int{1, 6, 17, 1000, 1500} {
			want := int((v.hash & 0x7fffffff) % uint32(n))
			if got := kafka.PartitionFor([]byte(v.key), n); got != want {
				t.Errorf("PartitionFor(%q, %d) = %d, want %d", v.key, n, got, want)
			}
		}
	}
}

func TestPartitionForMatchesKafkaPython(t *testing.T) {
	// kafka-python's Murmur2Partitioner tests, 1000 partitions.
	for key, want := range map[string]int{"": 681, "a": 524, "ab": 434, "abc": 107, "123456789": 566} {
		if got := kafka.PartitionFor([]byte(key), 1000); got != want {
			t.Errorf("PartitionFor(%q, 1000) = %d, want %d", key, got, want)
		}
	}
}

func TestPartitionForPanicsOnNoPartitions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("PartitionFor(key, 0) did not panic")
		}
	}()
	kafka.PartitionFor([]byte("k"), 0)
}

// TestWriterPartitionsByKey produces keyed messages with the Writer and reads
// them all back through a consumer group: every key lands in exactly one
// partition, the one PartitionFor names.
func TestWriterPartitionsByKey(t *testing.T) {
	const (
		partitions = 6
		entities   = 500
		perEntity  = 10
		total      = entities * perEntity
	)
	brokers := testenv.Kafka(t)
	topic := testenv.Topic(t, brokers, partitions)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	w, err := kafka.NewWriter(brokers, topic)
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]kafkago.Message, 0, total)
	for i := range perEntity {
		for e := range entities {
			msgs = append(msgs, kafkago.Message{
				Key:   fmt.Appendf(nil, "entity-%d", e),
				Value: fmt.Appendf(nil, "event-%d-%d", e, i),
			})
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers,
		GroupID: topic + "-group",
		Topic:   topic,
		MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()

	keyPartition := map[string]int{}
	seen := map[string]bool{}
	for len(seen) < total {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("fetch after %d of %d messages: %v", len(seen), total, err)
		}
		if seen[string(m.Value)] {
			t.Fatalf("message %s read twice", m.Value)
		}
		seen[string(m.Value)] = true
		key := string(m.Key)
		if want := kafka.PartitionFor(m.Key, partitions); m.Partition != want {
			t.Errorf("key %s in partition %d, PartitionFor says %d", key, m.Partition, want)
		}
		if p, ok := keyPartition[key]; ok && p != m.Partition {
			t.Errorf("key %s in partitions %d and %d", key, p, m.Partition)
		}
		keyPartition[key] = m.Partition
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	if len(keyPartition) != entities {
		t.Errorf("read %d keys, want %d", len(keyPartition), entities)
	}
	used := map[int]bool{}
	for _, p := range keyPartition {
		used[p] = true
	}
	if len(used) != partitions {
		t.Errorf("keys spread over %d partitions, want all %d", len(used), partitions)
	}
}
