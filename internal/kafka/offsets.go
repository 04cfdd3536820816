package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"

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

// Committed returns, for every partition of topic, the offset consumer group groupID
// has committed: the next offset it will read there; 0 where it has committed nothing.
func Committed(ctx context.Context, brokers []string, groupID, topic string) (map[int]int64, error) {
	if len(brokers) == 0 {
		return nil, ErrNoBrokers
	}
	client, closeClient := newClient(brokers)
	defer closeClient()
	where := fmt.Sprintf("kafka brokers %s, group %q, topic %q", strings.Join(brokers, ","), groupID, topic)

	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("%s: read metadata: %w", where, err)
	}
	var partitions []int
	for _, mt := range md.Topics {
		if mt.Name != topic {
			continue
		}
		if mt.Error != nil {
			return nil, fmt.Errorf("%s: %w", where, mt.Error)
		}
		for _, p := range mt.Partitions {
			partitions = append(partitions, p.ID)
		}
	}
	if len(partitions) == 0 {
		return nil, fmt.Errorf("%s: %w", where, kafkago.UnknownTopicOrPartition)
	}

	cov := make(map[int]int64, len(partitions))
	resp, err := client.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: groupID, Topics: map[string][]int{topic: partitions}})
	if err == nil {
		err = resp.Error
	}
	switch {
	case errors.Is(err, kafkago.GroupIdNotFound): // some brokers say so for a group that never committed
		for _, p := range partitions {
			cov[p] = 0
		}
		return cov, nil
	case err != nil:
		return nil, fmt.Errorf("%s: fetch committed offsets: %w", where, err)
	}
	var errs []error
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			errs = append(errs, fmt.Errorf("partition %d: %w", p.Partition, p.Error))
			continue
		}
		cov[p.Partition] = max(p.CommittedOffset, 0) // -1: nothing committed
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: fetch committed offsets: %w", where, err)
	}
	for _, p := range partitions {
		if _, ok := cov[p]; !ok {
			return nil, fmt.Errorf("%s: no committed offset returned for partition %d", where, p)
		}
	}
	return cov, nil
}
