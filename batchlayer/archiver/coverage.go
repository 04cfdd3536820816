package archiver

import (
	"context"
	"time"

	"github.com/lambda-platform/lambda/internal/kafka"
)

// Coverage returns, for every partition of topic, the offset the archiver
// group groupID has committed: every event of the partition below it is in the
// events table (possibly more than once, see the package doc; messages that are
// not valid events are never there), since the archiver commits only after the
// insert. A partition with nothing committed yet has 0. This, not the newest
// offset in ClickHouse, is the safe cutoff for reading the master dataset.
func Coverage(ctx context.Context, brokers []string, groupID, topic string) (map[int]int64, error) {
	return kafka.Committed(ctx, brokers, groupID, topic)
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
