package forward

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
)

// Defaults for the zero fields of Config.
const (
	DefaultGroupID         = "lambda-forwarder"
	DefaultBatchMessages   = 20_000
	DefaultFlushInterval   = 20 * time.Millisecond
	DefaultSessionTimeout  = 10 * time.Second
	DefaultShutdownTimeout = 10 * time.Second
)

// Fixed tuning.
const (
	minBackoff   = 100 * time.Millisecond
	maxBackoff   = 5 * time.Second
	readerQueue  = 20_000
	fetchMaxWait = 250 * time.Millisecond
	clientID     = "lambda-forwarder"
)

// Headers a dead letter carries after the original ones.
const (
	HeaderReason    = "dlq.reason"    // one of kafka's Reason constants
	HeaderError     = "dlq.error"     // the error in words
	HeaderTopic     = "dlq.topic"     // where the message was read
	HeaderPartition = "dlq.partition" // its partition, decimal
	HeaderOffset    = "dlq.offset"    // its offset, decimal
	HeaderConsumer  = "dlq.consumer"  // the consumer group that rejected it
)

// Config configures a Forwarder; zero fields take the defaults above.
type Config struct {
	Brokers []string
	// Topic is the events topic, read and written back to.
	Topic string
	// GroupID is the forwarder's consumer group.
	GroupID string
	// MaxClockSkew is how far an event's ts may be ahead of its message's timestamp
	// (event.CheckArrival); zero means event.DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// BatchMessages is the most messages one produce-and-commit round covers.
	BatchMessages int
	// FlushInterval is the longest a batch collects messages after its first one:
	// the delay a stray event takes before its copy is produced.
	FlushInterval time.Duration
	// SessionTimeout is how long the group waits for a member that stopped heartbeating.
	SessionTimeout time.Duration
	// ShutdownTimeout bounds the last produce and commit once Run's context ends.
	ShutdownTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.GroupID == "" {
		c.GroupID = DefaultGroupID
	}
	if c.MaxClockSkew <= 0 {
		c.MaxClockSkew = event.DefaultMaxClockSkew
	}
	if c.BatchMessages <= 0 {
		c.BatchMessages = DefaultBatchMessages
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
	return c
}

// Producer writes messages and returns once they are acknowledged (a
// *kafka.Writer is one): Home for copies to the events topic, partitioned by key
// with murmur2, DLQ for dead letters.
type Producer interface {
	WriteMessages(ctx context.Context, msgs ...kafkago.Message) error
}

// Forwarder is one member of the forwarder group; see the package doc.
type Forwarder struct {
	cfg       Config
	home, dlq Producer
	m         *metrics
	log       *slog.Logger
}

// New returns a forwarder producing copies through home and dead letters through
// dlq, with its metrics registered on reg. Run starts it.
func New(cfg Config, home, dlq Producer, reg prometheus.Registerer, log *slog.Logger) (*Forwarder, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("forwarder: %w", kafka.ErrNoBrokers)
	}
	if cfg.Topic == "" || home == nil || dlq == nil {
		return nil, fmt.Errorf("forwarder: a topic and both producers are required")
	}
	return &Forwarder{cfg: cfg, home: home, dlq: dlq, m: newMetrics(reg), log: log.With("component", "forwarder")}, nil
}

// batch is one produce-and-commit round.
type batch struct {
	taken      int // messages
	home, dead []kafkago.Message
	last       map[int]kafkago.Message // per partition, the message to commit past
}

// Run forwards until ctx ends, then produces and commits what it holds and leaves
// the group. It returns nil after a clean shutdown. Call it once.
func (f *Forwarder) Run(ctx context.Context) error {
	partitions, err := kafka.PartitionCount(ctx, f.cfg.Brokers, f.cfg.Topic)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("forwarder: %w", err)
	}
	r := kafka.NewGroupReader(kafka.GroupReader{Brokers: f.cfg.Brokers, Topic: f.cfg.Topic, GroupID: f.cfg.GroupID, ClientID: clientID,
		QueueCapacity: readerQueue, MaxWait: fetchMaxWait, SessionTimeout: f.cfg.SessionTimeout}, f.log)
	defer r.Close()
	// Produce and commit run under ioCtx, which ends ShutdownTimeout after ctx, so
	// that a shutdown finishes the round it holds.
	ioCtx, cancelIO := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelIO()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(f.cfg.ShutdownTimeout, cancelIO) })()

	f.log.Info("forwarder started", "topic", f.cfg.Topic, "partitions", partitions, "group", f.cfg.GroupID,
		"max_clock_skew", f.cfg.MaxClockSkew)
	b := &batch{last: map[int]kafkago.Message{}}
	for {
		f.fill(ctx, r, partitions, b)
		if b.taken == 0 { // ctx ended with nothing taken
			f.log.Info("forwarder stopped")
			return nil
		}
		if err := f.flush(ioCtx, r, b); err != nil {
			return fmt.Errorf("forwarder: %w", err)
		}
	}
}

// fill takes messages into b until it holds BatchMessages, FlushInterval has
// passed since its first message, or ctx ends.
func (f *Forwarder) fill(ctx context.Context, r *kafkago.Reader, partitions int, b *batch) {
	fetchCtx := ctx
	for b.taken < f.cfg.BatchMessages {
		m, err := r.FetchMessage(fetchCtx)
		if err != nil {
			if fetchCtx.Err() != nil {
				return
			}
			f.m.errors.WithLabelValues(stageFetch).Inc()
			f.log.Warn("kafka fetch failed", "err", err)
			if !backoff.Sleep(fetchCtx, time.Second) {
				return
			}
			continue
		}
		if b.taken == 0 {
			var cancel context.CancelFunc
			fetchCtx, cancel = context.WithTimeout(ctx, f.cfg.FlushInterval)
			defer cancel()
		}
		b.add(f, m, partitions)
	}
}

// add places m and takes its copy, if it needs one, into b.
func (b *batch) add(f *Forwarder, m kafkago.Message, partitions int) {
	b.taken++
	b.last[m.Partition] = m
	read := kafka.ReadEvent(m, partitions, f.cfg.MaxClockSkew)
	switch read.Placement {
	case kafka.Home:
		f.m.home.Inc()
	case kafka.Stray:
		f.m.stray.Inc()
		f.m.forwarded.WithLabelValues(strconv.Itoa(m.Partition)).Inc()
		b.home = append(b.home, homeCopy(m, read.Event.Key()))
	case kafka.Invalid:
		f.m.invalid.Inc()
		f.m.dead.WithLabelValues(read.Reason).Inc()
		f.log.Debug("message dead-lettered", "partition", m.Partition, "offset", m.Offset, "reason", read.Reason, "err", read.Err)
		b.dead = append(b.dead, deadLetter(m, read, f.cfg.GroupID))
	}
}

// flush produces b's copies and dead letters, then commits past its messages, each
// step retried until it succeeds or ctx ends; b is emptied.
func (f *Forwarder) flush(ctx context.Context, r *kafkago.Reader, b *batch) error {
	steps := []struct {
		stage string
		fn    func() error
	}{
		{stageProduce, func() error { return write(ctx, f.home, b.home) }},
		{stageProduce, func() error { return write(ctx, f.dlq, b.dead) }},
		{stageCommit, func() error { return commit(ctx, r, b.last) }},
	}
	for _, s := range steps {
		if err := f.retry(ctx, s.stage, s.fn); err != nil {
			return fmt.Errorf("%d messages neither forwarded nor committed: %w", len(b.last), err)
		}
	}
	for p, m := range b.last {
		f.m.lag.WithLabelValues(strconv.Itoa(p)).Set(float64(max(0, m.HighWaterMark-m.Offset-1)))
	}
	b.taken, b.home, b.dead = 0, b.home[:0], b.dead[:0]
	clear(b.last)
	return nil
}

func write(ctx context.Context, p Producer, msgs []kafkago.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	return p.WriteMessages(ctx, msgs...)
}

func commit(ctx context.Context, r *kafkago.Reader, last map[int]kafkago.Message) error {
	msgs := make([]kafkago.Message, 0, len(last))
	for _, m := range last {
		msgs = append(msgs, m)
	}
	return r.CommitMessages(ctx, msgs...)
}

// homeCopy is the copy of stray message m for its home partition.
func homeCopy(m kafkago.Message, key []byte) kafkago.Message {
	headers := append(m.Headers[:len(m.Headers):len(m.Headers)],
		kafkago.Header{Key: kafka.HeaderForwardedFrom, Value: fmt.Appendf(nil, "%d/%d", m.Partition, m.Offset)})
	return kafkago.Message{Key: key, Value: m.Value, Headers: headers, Time: m.Time}
}

// deadLetter is the dead-letter copy of invalid message m: its key, value,
// timestamp and headers, plus the dlq.* headers.
func deadLetter(m kafkago.Message, read kafka.EventRead, group string) kafkago.Message {
	headers := append(m.Headers[:len(m.Headers):len(m.Headers)],
		kafkago.Header{Key: HeaderReason, Value: []byte(read.Reason)},
		kafkago.Header{Key: HeaderError, Value: []byte(read.Err.Error())},
		kafkago.Header{Key: HeaderTopic, Value: []byte(m.Topic)},
		kafkago.Header{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(m.Partition), 10)},
		kafkago.Header{Key: HeaderOffset, Value: strconv.AppendInt(nil, m.Offset, 10)},
		kafkago.Header{Key: HeaderConsumer, Value: []byte(group)},
	)
	return kafkago.Message{Key: m.Key, Value: m.Value, Headers: headers, Time: m.Time}
}

// retry calls fn until it succeeds or ctx ends, backing off between attempts.
func (f *Forwarder) retry(ctx context.Context, stage string, fn func() error) error {
	return backoff.Retry(ctx, minBackoff, maxBackoff, fn, func(err error, wait time.Duration) {
		f.m.errors.WithLabelValues(stage).Inc()
		f.log.Warn("forwarder step failed, retrying", "stage", stage, "err", err, "backoff", wait)
	})
}
