package speedlayer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/backoff"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
)

// Deps are what a Consumer reads from and writes to.
type Deps struct {
	Runs   Runs
	Bases  Bases
	View   View
	Scorer Scorer
	// Archive, when set, lets the deltas skip copies of events the batch run
	// already folded (Config.DedupHorizon).
	Archive Archive
}

// Consumer is one member of the speed layer's consumer group; see the package doc.
type Consumer struct {
	cfg    Config
	spec   *features.Spec
	deps   Deps
	m      *metrics
	log    *slog.Logger
	client *kafkago.Client

	partitions int // of the topic, for the key → partition check
}

// New returns a consumer folding with spec, with its metrics registered on reg. Run
// starts it.
func New(cfg Config, spec *features.Spec, deps Deps, reg prometheus.Registerer, log *slog.Logger) (*Consumer, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("speed layer: %w", kafka.ErrNoBrokers)
	}
	if deps.Runs == nil || deps.Bases == nil || deps.View == nil || deps.Scorer == nil {
		return nil, errors.New("speed layer: every dependency is required")
	}
	return &Consumer{
		cfg:  cfg,
		spec: spec,
		deps: deps,
		m:    newMetrics(reg),
		log:  log.With("component", "speed"),
		client: &kafkago.Client{
			Addr:      kafkago.TCP(cfg.Brokers...),
			Transport: &kafkago.Transport{ClientID: clientID, DialTimeout: 10 * time.Second},
		},
	}, nil
}

// Run consumes until ctx ends, then writes and commits the micro-batch it holds and
// leaves the group. It returns nil after a clean shutdown. Call it once.
func (c *Consumer) Run(ctx context.Context) error {
	n, err := kafka.PartitionCount(ctx, c.cfg.Brokers, c.cfg.Topic)
	switch {
	case ctx.Err() != nil: // stopped before it started
		return nil
	case err != nil:
		return fmt.Errorf("speed layer: %w", err)
	}
	c.partitions = n
	group, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                c.cfg.GroupID,
		Brokers:           c.cfg.Brokers,
		Topics:            []string{c.cfg.Topic},
		Dialer:            &kafkago.Dialer{ClientID: clientID, Timeout: 10 * time.Second, DualStack: true},
		StartOffset:       kafkago.FirstOffset,
		SessionTimeout:    c.cfg.SessionTimeout,
		HeartbeatInterval: c.cfg.SessionTimeout / 5,
		RebalanceTimeout:  c.cfg.SessionTimeout,
		JoinGroupBackoff:  time.Second,
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			c.log.Warn("kafka group", "err", fmt.Sprintf(msg, args...))
		}),
	})
	if err != nil {
		return fmt.Errorf("speed layer: consumer group: %w", err)
	}
	defer group.Close()
	c.log.Info("speed layer started", "topic", c.cfg.Topic, "partitions", n, "group", c.cfg.GroupID,
		"max_batch", c.cfg.MaxBatch, "max_wait", c.cfg.MaxWait, "run_poll", c.cfg.RunPoll)
	for {
		gen, err := group.Next(ctx)
		switch {
		case ctx.Err() != nil:
			c.log.Info("speed layer stopped")
			return nil
		case err != nil:
			c.m.errors.WithLabelValues(stageGroup).Inc()
			c.log.Warn("kafka group: no generation", "err", err)
			continue
		}
		c.consume(ctx, gen)
	}
}

// consume runs one generation of the group: it returns when the generation or ctx ends.
func (c *Consumer) consume(ctx context.Context, gen *kafkago.Generation) {
	var ps []int
	for _, a := range gen.Assignments[c.cfg.Topic] {
		ps = append(ps, a.ID)
	}
	c.log.Info("partitions assigned", "generation", gen.ID, "partitions", ps)
	done := make(chan struct{})
	gen.Start(func(genCtx context.Context) {
		defer close(done)
		s := newSession(c, gen)
		s.consume(ctx, genCtx)
	})
	<-done
}

// retry calls fn until it succeeds or ctx ends, backing off between attempts and
// counting each failure under stage.
func (c *Consumer) retry(ctx context.Context, stage string, fn func() error) error {
	err := backoff.Retry(ctx, minBackoff, maxBackoff, fn, func(err error, wait time.Duration) {
		c.m.errors.WithLabelValues(stage).Inc()
		c.log.Warn("speed layer step failed, retrying", "stage", stage, "err", err, "backoff", wait)
	})
	if err != nil {
		return ctx.Err()
	}
	return nil
}
