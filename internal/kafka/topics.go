package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	kafkago "github.com/segmentio/kafka-go"
)

// EnsureTopics creates those of topics that do not exist yet, with the given
// number of partitions and the cluster's default replication factor (Kafka
// 2.4 or newer). A topic that already exists is fine; if its partition count
// differs, a warning is logged and the topic is kept as it is, since changing
// it would move keys to other partitions. It returns once the new topics are
// visible in metadata. ctx bounds the whole call, including reaching the
// brokers.
func EnsureTopics(ctx context.Context, log *slog.Logger, brokers []string, partitions int, topics ...string) error {
	if len(brokers) == 0 {
		return ErrNoBrokers
	}
	if partitions < 1 {
		return fmt.Errorf("ensure kafka topics %v: partitions %d, want at least 1", topics, partitions)
	}
	if len(topics) == 0 {
		return nil
	}
	client, closeClient := newClient(brokers)
	defer closeClient()

	existing, err := partitionCounts(ctx, client, topics)
	if err != nil {
		return fmt.Errorf("kafka brokers %s: read topic metadata: %w", brokerList(brokers), err)
	}
	var missing []kafkago.TopicConfig
	for _, t := range topics {
		n, ok := existing[t]
		switch {
		case !ok:
			missing = append(missing, kafkago.TopicConfig{Topic: t, NumPartitions: partitions, ReplicationFactor: -1})
		case n != partitions:
			log.Warn("kafka topic exists with another partition count, keeping it",
				"topic", t, "partitions", n, "wanted", partitions)
		}
	}
	if len(missing) == 0 {
		return nil
	}

	resp, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: missing})
	if err != nil {
		return fmt.Errorf("kafka brokers %s: create topics: %w", brokerList(brokers), err)
	}
	var errs []error
	created := make([]string, 0, len(missing))
	for _, m := range missing {
		switch err := resp.Errors[m.Topic]; {
		case err == nil:
			created = append(created, m.Topic)
		case errors.Is(err, kafkago.TopicAlreadyExists):
			// Created by someone else since we looked.
		default:
			errs = append(errs, fmt.Errorf("create kafka topic %q: %w", m.Topic, err))
		}
	}
	if len(created) > 0 {
		log.Info("kafka topics created", "topics", created, "partitions", partitions)
	}
	return errors.Join(errs...)
}

// DeleteTopics deletes topics; a topic that does not exist is fine.
func DeleteTopics(ctx context.Context, brokers []string, topics ...string) error {
	if len(brokers) == 0 {
		return ErrNoBrokers
	}
	client, closeClient := newClient(brokers)
	defer closeClient()

	resp, err := client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("kafka brokers %s: delete topics: %w", brokerList(brokers), err)
	}
	var errs []error
	for _, t := range topics {
		if err := resp.Errors[t]; err != nil && !errors.Is(err, kafkago.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("delete kafka topic %q: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// PartitionCount returns the number of partitions of topic, or an error
// wrapping kafka-go's UnknownTopicOrPartition if it does not exist.
func PartitionCount(ctx context.Context, brokers []string, topic string) (int, error) {
	if len(brokers) == 0 {
		return 0, ErrNoBrokers
	}
	client, closeClient := newClient(brokers)
	defer closeClient()

	counts, err := partitionCounts(ctx, client, []string{topic})
	if err != nil {
		return 0, fmt.Errorf("kafka brokers %s: read topic metadata: %w", brokerList(brokers), err)
	}
	n, ok := counts[topic]
	if !ok {
		return 0, fmt.Errorf("kafka topic %q: %w", topic, kafkago.UnknownTopicOrPartition)
	}
	return n, nil
}

// partitionCounts returns the partition count of those of topics that exist.
func partitionCounts(ctx context.Context, client *kafkago.Client, topics []string) (map[string]int, error) {
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: topics})
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int, len(md.Topics))
	for _, t := range md.Topics {
		switch {
		case t.Error == nil:
			counts[t.Name] = len(t.Partitions)
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
		default:
			return nil, fmt.Errorf("topic %q: %w", t.Name, t.Error)
		}
	}
	return counts, nil
}
