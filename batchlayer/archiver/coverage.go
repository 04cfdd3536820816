package archiver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/kafka"
)

// Coverage returns, for every partition of topic, the offset the archiver
// group groupID has committed: every event of the partition below it is in the
// events table (possibly more than once, see the package doc; messages that are
// not valid events are never there), since the archiver commits only after the
// insert. A partition with nothing committed yet has 0. This, not the newest
// offset in ClickHouse, is the safe cutoff for reading the master dataset.
func Coverage(ctx context.Context, brokers []string, groupID, topic string) (map[int]int64, error) {
	if len(brokers) == 0 {
		return nil, kafka.ErrNoBrokers
	}
	// A transport of its own: the shared default one caches metadata.
	t := &kafkago.Transport{ClientID: clientID, DialTimeout: 5 * time.Second}
	defer t.CloseIdleConnections()
	client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: t}
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

// caughtUpPoll is how often WaitCaughtUp compares the committed offsets with the log.
const caughtUpPoll = 200 * time.Millisecond

// WaitCaughtUp waits until the archiver group groupID has caught up with topic: its
// Coverage reaches the end offset of every partition, so every message in the log is in
// the events table. The end offsets are read again at every poll: messages produced
// meanwhile are waited for too. It returns ctx's error when ctx ends first, and the first
// error reading the offsets.
func WaitCaughtUp(ctx context.Context, brokers []string, groupID, topic string) error {
	for {
		done, err := caughtUp(ctx, brokers, groupID, topic)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(caughtUpPoll):
		}
	}
}

// caughtUp reports whether the group's committed offsets are at least the topic's end
// offsets, read after them.
func caughtUp(ctx context.Context, brokers []string, groupID, topic string) (bool, error) {
	covered, err := Coverage(ctx, brokers, groupID, topic)
	if err != nil {
		return false, err
	}
	ends, err := kafka.EndOffsets(ctx, brokers, topic)
	if err != nil {
		return false, err
	}
	for p, end := range ends {
		if covered[p] < end {
			return false, nil
		}
	}
	return true, nil
}
