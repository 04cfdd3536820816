package kafka

import (
	"context"
	"fmt"

	kafkago "github.com/segmentio/kafka-go"
)

// EndOffsets returns, per partition of topic, the offset the next message will get
// (the high watermark): how many messages each partition has held.
func EndOffsets(ctx context.Context, brokers []string, topic string) (map[int]int64, error) {
	n, err := PartitionCount(ctx, brokers, topic)
	if err != nil {
		return nil, err
	}
	client, closeClient := newClient(brokers)
	defer closeClient()
	reqs := make([]kafkago.OffsetRequest, n)
	for p := range reqs {
		reqs[p] = kafkago.LastOffsetOf(p)
	}
	resp, err := client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("kafka brokers %s: list offsets of %q: %w", brokerList(brokers), topic, err)
	}
	ends := make(map[int]int64, n)
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("kafka topic %q partition %d: %w", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
	}
	return ends, nil
}
