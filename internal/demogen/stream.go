package demogen

import (
	"context"
	"fmt"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
)

// Progress is a snapshot of a Stream, reported about once a second and at the end.
type Progress struct {
	Sent    int
	Total   int
	Elapsed time.Duration
}

// Rate is the events per second sent so far.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Sent) / p.Elapsed.Seconds()
}

// String reads like "120000/200000 events (60%), 98000 events/s, ETA 1s".
func (p Progress) String() string {
	s := fmt.Sprintf("%d/%d events (%.0f%%), %.0f events/s", p.Sent, p.Total, 100*float64(p.Sent)/float64(max(p.Total, 1)), p.Rate())
	if r := p.Rate(); r > 0 && p.Sent < p.Total {
		s += ", ETA " + (time.Duration(float64(p.Total-p.Sent)/r) * time.Second).Round(time.Second).String()
	}
	return s
}

// Stream sends total events from g to sink in batches of batchSize, at most rate
// events per second (0 = as fast as the sink takes them), calling progress about once
// a second and once at the end. It stops early, with ctx's error, when ctx ends.
func Stream(ctx context.Context, g *Generator, total, batchSize int, rate float64,
	sink func(context.Context, []event.Event) error, progress func(Progress)) error {
	if batchSize <= 0 {
		batchSize = 1000
	}
	if rate > 0 {
		// Small batches keep a slow stream smooth: about 20 sends a second.
		batchSize = max(1, min(batchSize, int(rate/20)))
	}
	start := time.Now()
	lastReport := start
	batch := make([]event.Event, 0, batchSize)
	for sent := 0; sent < total; {
		batch = batch[:0]
		for len(batch) < batchSize && sent+len(batch) < total {
			batch = append(batch, g.Next())
		}
		if err := sink(ctx, batch); err != nil {
			return fmt.Errorf("send events %d..%d: %w", sent, sent+len(batch)-1, err)
		}
		sent += len(batch)
		if rate > 0 {
			due := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(due)):
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		if now := time.Now(); progress != nil && (now.Sub(lastReport) >= time.Second || sent == total) {
			lastReport = now
			progress(Progress{Sent: sent, Total: total, Elapsed: now.Sub(start)})
		}
	}
	return nil
}
