package archiver

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/backoff"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
)

// Defaults for the zero fields of Config.
const (
	DefaultTopic           = "events"
	DefaultGroupID         = "lambda-archiver"
	DefaultBatchRows       = 50_000
	DefaultFlushInterval   = time.Second
	DefaultSessionTimeout  = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// Fixed tuning.
const (
	// opTimeout bounds one insert or commit attempt.
	opTimeout = time.Minute
	// Failed inserts are retried after minBackoff, doubling up to maxBackoff.
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	// fetchErrorPause is the wait after a failed fetch from Kafka.
	fetchErrorPause = time.Second
	// readerQueue is how many fetched messages the reader buffers ahead, so
	// fetching goes on while a batch is inserted.
	readerQueue = 20_000
	// fetchMaxWait bounds how long the broker holds a fetch when there is
	// nothing new, and so how long leaving the group waits for it.
	fetchMaxWait = 500 * time.Millisecond
	// clientID names the archiver's connections in broker logs.
	clientID = "lambda-archiver"
)

// Config configures an Archiver; zero fields take the defaults above.
type Config struct {
	// Brokers are the Kafka bootstrap brokers.
	Brokers []string
	// Topic is the event log to archive.
	Topic string
	// GroupID is the consumer group; its committed offsets are the archive's
	// coverage (see Coverage).
	GroupID string
	// Database holds the events table; empty means the connection's default database.
	Database string
	// BatchRows is the most messages one insert covers.
	BatchRows int
	// FlushInterval is the longest a batch collects messages, from its first one.
	FlushInterval time.Duration
	// SessionTimeout is how long the group waits for a member that stopped
	// heartbeating (a crashed archiver) before giving its partitions to the others.
	// Brokers accept 6 s to 30 min by default.
	SessionTimeout time.Duration
	// ShutdownTimeout bounds the final flush and commit once Run's context ends.
	ShutdownTimeout time.Duration
	// MaxClockSkew is how far an event's ts may be ahead of its message's timestamp
	// (event.CheckArrival); zero means event.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
}

func (c Config) withDefaults() Config {
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.BatchRows <= 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = DefaultSessionTimeout
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = event.DefaultMaxClockSkew
	}
	return c
}

// Archiver copies the event log into the ClickHouse master dataset; see the package doc.
type Archiver struct {
	cfg   Config
	ch    ClickHouse
	table string
	m     *metrics
	log   *slog.Logger
}

// New returns an archiver writing through ch, with its metrics registered on
// reg. Run starts it.
func New(cfg Config, ch ClickHouse, reg prometheus.Registerer, log *slog.Logger) *Archiver {
	cfg = cfg.withDefaults()
	return &Archiver{cfg: cfg, ch: ch, table: master.EventsTable(cfg.Database), m: newMetrics(reg), log: log.With("component", "archiver")}
}

// Run archives until ctx ends, then flushes and commits what it holds and
// leaves the group. It returns nil after a clean shutdown, and an error if
// messages were left unflushed or the configuration is unusable. Call it once.
func (a *Archiver) Run(ctx context.Context) error {
	if len(a.cfg.Brokers) == 0 {
		return fmt.Errorf("archiver: %w", kafka.ErrNoBrokers)
	}
	partitions, err := kafka.PartitionCount(ctx, a.cfg.Brokers, a.cfg.Topic)
	switch {
	case ctx.Err() != nil: // stopped before it started
		return nil
	case err != nil:
		return fmt.Errorf("archiver: %w", err)
	}
	r := kafka.NewGroupReader(kafka.GroupReader{Brokers: a.cfg.Brokers, Topic: a.cfg.Topic, GroupID: a.cfg.GroupID, ClientID: clientID,
		QueueCapacity: readerQueue, MaxWait: fetchMaxWait, SessionTimeout: a.cfg.SessionTimeout}, a.log)
	defer r.Close()

	// Inserts, their retries and commits run under ioCtx, which ends
	// ShutdownTimeout after ctx: a shutdown lets the work in flight and the
	// final flush finish.
	ioCtx, cancelIO := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelIO()
	go func() {
		select {
		case <-ctx.Done():
			select {
			case <-time.After(a.cfg.ShutdownTimeout):
			case <-ioCtx.Done():
			}
			cancelIO()
		case <-ioCtx.Done():
		}
	}()

	a.log.Info("archiver started", "topic", a.cfg.Topic, "group", a.cfg.GroupID, "table", a.table,
		"batch_rows", a.cfg.BatchRows, "flush_interval", a.cfg.FlushInterval)
	// Two batches take turns: one fills while the flusher inserts and commits
	// the other, so reading and decoding overlap the insert.
	c := &consumer{Archiver: a, r: r, partitions: partitions, uncommitted: map[int]kafkago.Message{}}
	full, free := make(chan *batch), make(chan *batch, 2)
	free <- newBatch()
	free <- newBatch()
	flushed := make(chan error, 1)
	go func() { flushed <- c.flushAll(ioCtx, full, free) }()
	for ctx.Err() == nil {
		b := <-free // the flusher hands every batch back
		c.fill(ctx, b)
		if b.messages == 0 { // ctx ended
			break
		}
		full <- b
	}
	close(full)
	err = <-flushed
	if err == nil {
		a.log.Info("archiver stopped")
	}
	return err
}

// consumer is the state of one Run.
type consumer struct {
	*Archiver
	r          *kafkago.Reader
	partitions int // of the topic, to place messages (kafka.ReadEvent)
	// uncommitted holds, per partition, the last message inserted but not
	// yet committed: the flusher's alone.
	uncommitted map[int]kafkago.Message
}

// fill reads messages into b until it holds BatchRows messages,
// FlushInterval has passed since its first message, or ctx ends.
func (c *consumer) fill(ctx context.Context, b *batch) {
	fetchCtx := ctx
	for b.messages < c.cfg.BatchRows {
		m, err := c.r.FetchMessage(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				return
			}
			c.m.fetchErrors.Inc()
			c.log.Warn("kafka fetch failed", "err", err)
			if !backoff.Sleep(fetchCtx, fetchErrorPause) {
				return
			}
			continue
		}
		if b.messages == 0 {
			var cancel context.CancelFunc
			fetchCtx, cancel = context.WithTimeout(ctx, c.cfg.FlushInterval)
			defer cancel()
		}
		if skip := b.add(m, c.partitions, c.cfg.MaxClockSkew); skip != "" {
			c.m.skipped.WithLabelValues(skip).Inc()
		}
	}
}

// flushAll flushes the batches from full in order, handing each back to free
// emptied, until full is closed. Once a batch could not be flushed (ioCtx
// ended), the later ones are counted as unflushed without trying: committing
// them would move offsets past the messages of the failed one.
func (c *consumer) flushAll(ioCtx context.Context, full <-chan *batch, free chan<- *batch) error {
	var (
		err       error
		unflushed int
	)
	for b := range full {
		if err == nil {
			err = c.flush(ioCtx, b)
		}
		if err != nil {
			unflushed += b.messages
			c.m.unflushed.Add(float64(b.messages))
		}
		b.reset()
		free <- b
	}
	if err != nil {
		c.log.Error("archiver stopped with unflushed messages; the group delivers them again", "messages", unflushed, "err", err)
		return fmt.Errorf("archiver: %d messages unflushed at shutdown: %w", unflushed, err)
	}
	if c.commit(ioCtx); len(c.uncommitted) > 0 {
		c.log.Warn("archiver stopped with uncommitted offsets; their messages will be archived again", "partitions", len(c.uncommitted))
	}
	return nil
}

// flush inserts the rows of b, retrying with backoff until the insert
// succeeds or ioCtx ends, then commits the offsets past its messages.
func (c *consumer) flush(ioCtx context.Context, b *batch) error {
	for attempt := 0; b.rows.Len() > 0; attempt++ {
		err := c.insert(ioCtx, b)
		if err == nil {
			break
		}
		c.m.insertRetries.Inc()
		wait := retryWait(attempt)
		c.log.Warn("clickhouse insert failed, retrying", "rows", b.rows.Len(), "attempt", attempt+1, "retry_in", wait, "err", err)
		if !backoff.Sleep(ioCtx, wait) {
			return fmt.Errorf("insert %d rows: %w (stopped retrying: %w)", b.rows.Len(), err, ioCtx.Err())
		}
	}
	for p, m := range b.last {
		if prev, ok := c.uncommitted[p]; !ok || m.Offset > prev.Offset {
			c.uncommitted[p] = m
		}
	}
	c.commit(ioCtx)
	return nil
}

// insert writes the rows of b with one insert.
func (c *consumer) insert(ioCtx context.Context, b *batch) error {
	ctx, cancel := context.WithTimeout(ioCtx, opTimeout)
	defer cancel()
	began := time.Now()
	if err := master.Insert(ctx, c.ch, c.table, &b.rows); err != nil {
		return err
	}
	c.m.insertSeconds.Observe(time.Since(began).Seconds())
	c.m.batches.Inc()
	c.m.rows.Add(float64(b.rows.Len()))
	return nil
}

// commit commits the offsets past the inserted messages. A failure leaves
// them for the next commit: nothing is lost, though the messages may be
// inserted again after a restart.
func (c *consumer) commit(ioCtx context.Context) {
	if len(c.uncommitted) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ioCtx, opTimeout)
	defer cancel()
	msgs := make([]kafkago.Message, 0, len(c.uncommitted))
	for _, m := range c.uncommitted {
		msgs = append(msgs, m)
	}
	if err := c.r.CommitMessages(ctx, msgs...); err != nil {
		c.m.commitErrors.Inc()
		c.log.Warn("kafka commit failed, committing with the next batch", "partitions", len(msgs), "err", err)
		return
	}
	clear(c.uncommitted)
	for _, m := range msgs {
		c.m.lag.WithLabelValues(strconv.Itoa(m.Partition)).Set(float64(m.HighWaterMark - m.Offset - 1))
	}
	c.m.lastFlush.SetToCurrentTime()
}

// retryWait is the wait after the attempt-th failure (from 0).
func retryWait(attempt int) time.Duration {
	return min(minBackoff<<min(attempt, 16), maxBackoff)
}
