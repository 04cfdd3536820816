package speedlayer

import (
	"context"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/backoff"
	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// newReader returns a reader of partition p, outside the group, positioned at offset.
func (c *Consumer) newReader(p int, offset int64) (*kafkago.Reader, error) {
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:         c.cfg.Brokers,
		Topic:           c.cfg.Topic,
		Partition:       p,
		MinBytes:        1,
		MaxBytes:        fetchMaxBytes,
		MaxWait:         fetchMaxWait,
		QueueCapacity:   fetchQueue,
		ReadLagInterval: -1,
		Dialer:          &kafkago.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true},
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn("kafka reader", "partition", p, "err", fmt.Sprintf(msg, args...))
		}),
	})
	if err := r.SetOffset(offset); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("partition %d: seek to offset %d: %w", p, offset, err)
	}
	return r, nil
}

// fetch sends the records of partition p from offset on to out until ctx ends. It
// decodes here, so partitions decode in parallel.
func (c *Consumer) fetch(ctx context.Context, p int, offset int64, out chan<- record) {
	var r *kafkago.Reader
	err := c.retry(ctx, stageFetch, func() (err error) {
		r, err = c.newReader(p, offset)
		return err
	})
	if err != nil {
		return
	}
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.m.errors.WithLabelValues(stageFetch).Inc()
			c.log.Warn("kafka fetch failed", "partition", p, "err", err)
			if !backoff.Sleep(ctx, time.Second) {
				return
			}
			continue
		}
		c.m.fetched.Add(float64(len(m.Key) + len(m.Value)))
		r := decodeRecord(m, c.partitions, c.cfg.MaxClockSkew)
		r.fetched = time.Now()
		select {
		case out <- r:
		case <-ctx.Done():
			return
		}
	}
}

// replay calls fn with the valid records of partition p at offsets [from, to], a
// chunk at a time, in offset order, and returns the last offset it covered: to, or
// less when the log ends before. Stray and invalid records are skipped.
func (c *Consumer) replay(ctx context.Context, p int, from, to int64, fn func([]delta.Record) error) (int64, error) {
	if from > to {
		return from - 1, nil
	}
	first, end, err := c.bounds(ctx, p)
	if err != nil {
		return 0, err
	}
	if from < first {
		return 0, fmt.Errorf("replay partition %d from offset %d: the log starts at %d (retention removed what the batch run does not cover)", p, from, first)
	}
	to = min(to, end-1)
	if from > to {
		return from - 1, nil
	}
	r, err := c.newReader(p, from)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	buf := make([]delta.Record, 0, replayChunk)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return 0, fmt.Errorf("replay partition %d: %w", p, err)
		}
		if m.Offset > to {
			return to, fn(buf)
		}
		c.m.fetched.Add(float64(len(m.Key) + len(m.Value)))
		if rec := decodeRecord(m, c.partitions, c.cfg.MaxClockSkew); rec.skip == "" {
			buf = append(buf, delta.Record{Offset: rec.offset, Event: rec.ev})
		}
		if m.Offset == to {
			return to, fn(buf)
		}
		if len(buf) == replayChunk {
			if err := fn(buf); err != nil {
				return 0, err
			}
			buf = buf[:0]
		}
	}
}

// bounds returns the first offset of partition p and the offset the next message
// will get.
func (c *Consumer) bounds(ctx context.Context, p int) (first, end int64, err error) {
	resp, err := c.client.ListOffsets(ctx, &kafkago.ListOffsetsRequest{
		Topics: map[string][]kafkago.OffsetRequest{c.cfg.Topic: {kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p)}},
	})
	if err != nil {
		return 0, 0, fmt.Errorf("list offsets of partition %d: %w", p, err)
	}
	for _, po := range resp.Topics[c.cfg.Topic] {
		if po.Partition != p {
			continue
		}
		if po.Error != nil {
			return 0, 0, fmt.Errorf("list offsets of partition %d: %w", p, po.Error)
		}
		return po.FirstOffset, po.LastOffset, nil
	}
	return 0, 0, fmt.Errorf("list offsets of partition %d: no answer for it", p)
}
