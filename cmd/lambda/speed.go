package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/gctune"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/speedlayer"
	"github.com/lambda-platform/lambda/speedlayer/kappa"
	"github.com/lambda-platform/lambda/speedlayer/speedview"
)

// speedSettings are the speed layer's own settings, a config section that
// `lambda speed` and `lambda up` both register.
type speedSettings struct {
	GroupID        string
	MaxBatch       int
	MaxWait        time.Duration
	RunPoll        time.Duration
	SessionTimeout time.Duration
	DedupHorizon   int
}

// Register binds the section to flags.
func (s *speedSettings) Register(f *config.Flags) {
	f.String(&s.GroupID, "speed-group", "LAMBDA_SPEED_GROUP", speedlayer.DefaultGroupID, "consumer group of the speed layer")
	f.Int(&s.MaxBatch, "speed-max-batch", "LAMBDA_SPEED_MAX_BATCH", speedlayer.DefaultMaxBatch, "most messages per micro-batch")
	f.Duration(&s.MaxWait, "speed-max-wait", "LAMBDA_SPEED_MAX_WAIT", speedlayer.DefaultMaxWait, "longest a micro-batch's first message waits for more")
	f.Duration(&s.RunPoll, "speed-run-poll", "LAMBDA_SPEED_RUN_POLL", speedlayer.DefaultRunPoll, "how often to look for a newly published batch run")
	f.Duration(&s.SessionTimeout, "speed-session-timeout", "LAMBDA_SPEED_SESSION_TIMEOUT", speedlayer.DefaultSessionTimeout, "consumer group session timeout")
	f.Int(&s.DedupHorizon, "speed-dedup-horizon", "LAMBDA_SPEED_DEDUP_HORIZON", speedlayer.DefaultDedupHorizon,
		"offsets before the batch cutoff whose event ids a copy after it is checked against (negative: off)")
}

type speedConfig struct {
	Postgres    config.Postgres
	ClickHouse  config.ClickHouse
	Kafka       config.Kafka
	Runtime     config.Runtime
	Log         config.Log
	Speed       speedSettings
	Scoring     scoringSettings
	GC          gcSettings
	Arch        architectureSettings
	MetricsAddr string
}

func runSpeed(ctx context.Context, args []string) error {
	cfg := speedConfig{GC: gcSettings{def: gctune.FoldHeadroomMB}}
	f := config.NewFlags("speed", "lambda speed: run the speed layer alone: a consumer group that folds the events after the published batch run's cutoff, scores them with the active model and upserts speed_view in PostgreSQL (not with LAMBDA_ARCHITECTURE=kappa), the forwarder, which copies events a producer put in another partition than their entity's home there and dead-letters invalid ones, and the Kappa replays' jobs (lambda kappa)")
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Kafka, &cfg.Runtime, &cfg.Log, &cfg.Speed, &cfg.Scoring, &cfg.GC, &cfg.Arch)
	f.String(&cfg.MetricsAddr, "metrics-addr", "LAMBDA_SPEED_METRICS_ADDR", "127.0.0.1:9102", "listen address of /metrics")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	kappaMode, err := cfg.Arch.kappaMode()
	if err != nil {
		return err
	}
	brokers := cfg.Kafka.BootstrapBrokers()
	log.Info("config", "postgres", cfg.Postgres, "clickhouse", cfg.ClickHouse, "kafka_brokers", brokers,
		"topic", cfg.Kafka.Topic, "dlq_topic", cfg.Kafka.DLQTopic, "ort_lib", cfg.Runtime.ORTLib, "speed", cfg.Speed,
		"architecture", cfg.Arch.Name, "metrics_addr", cfg.MetricsAddr, "gc_headroom_mb", cfg.GC.HeadroomMB)
	defer cfg.GC.start()()

	if err := inference.InitRuntime(cfg.Runtime.ORTLib); err != nil {
		return err
	}
	if err := kafka.EnsureTopics(ctx, log, brokers, cfg.Kafka.Partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	reg := newRegistry()
	fwd, closeFwd, err := newForwarder(brokers, cfg.Kafka, reg, log)
	if err != nil {
		return err
	}
	defer closeFwd()

	g, gctx := errgroup.WithContext(ctx)
	if !kappaMode {
		closeSpeed, err := startSpeed(gctx, g, cfg, pool, reg, log)
		if err != nil {
			return err
		}
		defer closeSpeed()
	}
	g.Go(func() error { return fwd.Run(gctx) })
	g.Go(func() error {
		return kappa.New(kappa.Config{Speed: cfg.Speed.config(brokers, cfg.Kafka), DropGrace: cfg.Arch.DropGrace},
			pool, registry.New(pool, log), reg, log).Run(gctx)
	})
	g.Go(func() error { return serveMetrics(gctx, cfg.MetricsAddr, reg) })
	return g.Wait()
}

// startSpeed starts the speed layer of `lambda speed` in g, with the watcher that keeps
// its model current; closeFn closes what it opened once g is done.
func startSpeed(ctx context.Context, g *errgroup.Group, cfg speedConfig, pool *pgxpool.Pool, reg *prometheus.Registry, log *slog.Logger) (closeFn func(), err error) {
	ch, err := openClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return nil, err
	}
	spec, err := loadSpec(cfg.Scoring.Spec)
	if err != nil {
		_ = ch.Close()
		return nil, err
	}
	holder := inference.NewHolder(log)
	watcher := registry.NewWatcher(registry.New(pool, log), cfg.Scoring.Model, holder,
		registry.WatcherOptions{Model: inference.Options{Observer: inference.NewRunMetrics(reg)}, Metrics: registry.NewMetrics(reg), Logger: log})
	speed, err := newSpeedLayer(cfg.Speed, spec, speedDeps{
		Log: log, Registry: reg, Postgres: pool,
		Events:  master.New(ch, cfg.ClickHouse.Stream(), cfg.ClickHouse.Database),
		View:    views.NewBatch(cfg.ClickHouse.Stream(), cfg.ClickHouse.Database),
		Brokers: cfg.Kafka.BootstrapBrokers(), Kafka: cfg.Kafka, Holder: holder,
	})
	if err != nil {
		_ = holder.Close()
		_ = ch.Close()
		return nil, err
	}
	g.Go(func() error {
		watcher.Run(ctx)
		return nil
	})
	g.Go(func() error { return speed.Run(ctx) })
	return func() { _ = holder.Close(); _ = ch.Close() }, nil
}

// speedDeps are the opened clients the speed layer runs on.
type speedDeps struct {
	Log      *slog.Logger
	Registry prometheus.Registerer
	Postgres *pgxpool.Pool
	Events   *master.Dataset // the event ids of the master dataset, to drop duplicates
	View     *views.Batch    // the published run's feature states
	Brokers  []string
	Kafka    config.Kafka
	// Holder serves the model that scores; keep it on the active version with a
	// registry.Watcher.
	Holder *inference.Holder
}

// config is the speed layer's configuration from its settings.
func (s speedSettings) config(brokers []string, kc config.Kafka) speedlayer.Config {
	return speedlayer.Config{
		Brokers:        brokers,
		Topic:          kc.Topic,
		MaxClockSkew:   kc.MaxClockSkew,
		GroupID:        s.GroupID,
		MaxBatch:       s.MaxBatch,
		MaxWait:        s.MaxWait,
		RunPoll:        s.RunPoll,
		SessionTimeout: s.SessionTimeout,
		DedupHorizon:   int64(s.DedupHorizon),
	}
}

// newSpeedLayer builds the speed layer on opened clients, for `lambda speed` and
// `lambda up`.
func newSpeedLayer(s speedSettings, spec *features.Spec, d speedDeps) (*speedlayer.Consumer, error) {
	return speedlayer.New(s.config(d.Brokers, d.Kafka), spec, speedlayer.Deps{
		Runs:    runs.NewReader(d.Postgres),
		Bases:   d.View,
		Archive: d.Events,
		View:    speedview.New(d.Postgres),
		Scorer:  speedlayer.HolderScorer{Holder: d.Holder},
	}, d.Registry, d.Log)
}
