package predict

import (
	"context"
	"sync"
	"time"
)

// Concurrent lookups that miss the speed cache would each read the speed view with a
// query of their own; at thousands of requests per second with a cold cache (a
// restart under load) PostgreSQL's per-query cost then queues them past
// LookupTimeout. A coalescer merges them: the lookups that arrive while
// maxSpeedReads reads are in flight join one pending read, which starts as soon as a
// read ends, so an idle service adds no wait and a busy one sends fewer, larger
// queries.

// maxSpeedReads bounds the speed view reads in flight (pgxpool's default pool is 4
// connections); maxCoalescedIDs bounds the ids one read asks for.
const (
	maxSpeedReads   = 4
	maxCoalescedIDs = 2000
)

// coalescer merges concurrent speed view reads; the zero value is not usable, see
// newCoalescer.
type coalescer struct {
	read    func(ctx context.Context, ids []string) ([]SpeedRow, error)
	timeout time.Duration
	slots   chan struct{} // one per read in flight
	mu      sync.Mutex
	pending *speedRead // accepting ids until it starts; nil: none
}

// speedRead is one read of the speed view on behalf of several lookups.
type speedRead struct {
	ids  []string
	done chan struct{} // closed when rows and err are set
	rows map[string]SpeedRow
	err  error
}

func newCoalescer(read func(ctx context.Context, ids []string) ([]SpeedRow, error), timeout time.Duration) *coalescer {
	return &coalescer{read: read, timeout: timeout, slots: make(chan struct{}, maxSpeedReads)}
}

// rows returns the speed rows of those of ids the view holds, read together with the
// ids of concurrent lookups. It returns when the read ends or ctx does.
func (c *coalescer) rows(ctx context.Context, ids []string) ([]SpeedRow, error) {
	c.mu.Lock()
	r := c.pending
	if r == nil || len(r.ids)+len(ids) > maxCoalescedIDs {
		r = &speedRead{done: make(chan struct{})}
		c.pending = r
		go c.run(r)
	}
	r.ids = append(r.ids, ids...)
	c.mu.Unlock()
	select {
	case <-r.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r.err != nil {
		return nil, r.err
	}
	out := make([]SpeedRow, 0, len(ids))
	for _, id := range ids {
		if row, ok := r.rows[id]; ok {
			out = append(out, row)
		}
	}
	return out, nil
}

// run waits for a free read, closes r to new ids and reads them. The read is bounded
// by the timeout, not by any one lookup's context: the others wait for it too.
func (c *coalescer) run(r *speedRead) {
	defer close(r.done)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.pending == r {
		c.pending = nil
	}
	ids := r.ids
	c.mu.Unlock()
	if r.err = ctx.Err(); r.err != nil {
		return
	}
	rows, err := c.read(ctx, ids)
	r.rows, r.err = make(map[string]SpeedRow, len(rows)), err
	for _, row := range rows {
		r.rows[row.EntityID] = row
	}
}
