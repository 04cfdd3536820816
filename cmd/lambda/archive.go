package main

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/kafka"
)

// archiveSettings are the archiver's own settings, shared by `lambda archive` and `lambda up`.
type archiveSettings struct {
	BatchRows int
}

// Register binds the section to flags.
func (s *archiveSettings) Register(f *config.Flags) {
	f.Int(&s.BatchRows, "archive-batch-rows", "LAMBDA_ARCHIVE_BATCH_ROWS", archiver.DefaultBatchRows, "most rows per ClickHouse insert (a batch also closes after 1 s)")
}

// config is the archiver's configuration for the given cluster.
func (s archiveSettings) config(brokers []string, group archiverGroup, kc config.Kafka, ch config.ClickHouse) archiver.Config {
	return archiver.Config{Brokers: brokers, Topic: kc.Topic, GroupID: group.ID, Database: ch.Database, BatchRows: s.BatchRows, MaxClockSkew: kc.MaxClockSkew}
}

type archiveConfig struct {
	ClickHouse  config.ClickHouse
	Kafka       config.Kafka
	Log         config.Log
	Archive     archiveSettings
	Archiver    archiverGroup
	MetricsAddr string
}

func runArchive(ctx context.Context, args []string) error {
	var cfg archiveConfig
	f := config.NewFlags("archive", "lambda archive: run the archiver alone: a consumer group that appends every event to the ClickHouse master dataset, committing offsets only after the insert")
	f.Add(&cfg.ClickHouse, &cfg.Kafka, &cfg.Log, &cfg.Archive, &cfg.Archiver)
	f.String(&cfg.MetricsAddr, "metrics-addr", "LAMBDA_ARCHIVE_METRICS_ADDR", "127.0.0.1:9101", "listen address of /metrics")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	brokers := cfg.Kafka.BootstrapBrokers()
	log.Info("config", "clickhouse", cfg.ClickHouse, "kafka_brokers", brokers, "topic", cfg.Kafka.Topic,
		"group", cfg.Archiver.ID, "batch_rows", cfg.Archive.BatchRows, "metrics_addr", cfg.MetricsAddr)
	if err := kafka.EnsureTopics(ctx, log, brokers, cfg.Kafka.Partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic); err != nil {
		return err
	}
	ch, err := openClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()
	reg := newRegistry()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return archiver.New(cfg.Archive.config(brokers, cfg.Archiver, cfg.Kafka, cfg.ClickHouse), ch, reg, log).Run(gctx)
	})
	g.Go(func() error { return serveMetrics(gctx, cfg.MetricsAddr, reg) })
	return g.Wait()
}
