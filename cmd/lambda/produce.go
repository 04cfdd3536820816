package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/kafka"
)

type produceConfig struct {
	Kafka    config.Kafka
	Log      config.Log
	Events   int
	Entities int
	Rate     float64
	Seed     int64
}

func runProduce(ctx context.Context, args []string) error {
	var cfg produceConfig
	f := config.NewFlags("produce", "lambda produce: write demo events (skewed activity, late events, training labels) to the event topic, keyed by entity_id")
	f.Add(&cfg.Kafka, &cfg.Log)
	f.IntVar(&cfg.Events, "events", 100000, "number of events")
	f.IntVar(&cfg.Entities, "entities", demogen.DefaultEntities, "number of distinct entities")
	f.Float64Var(&cfg.Rate, "rate", 0, "events per second; 0 = as fast as possible")
	f.Int64Var(&cfg.Seed, "seed", time.Now().UnixNano(), "random seed (same seed, same events)")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	if cfg.Events < 0 || cfg.Entities <= 0 || cfg.Rate < 0 {
		return fmt.Errorf("--events must be ≥ 0, --entities > 0 and --rate ≥ 0")
	}
	log.Info("config", "brokers", cfg.Kafka.BootstrapBrokers(), "topic", cfg.Kafka.Topic, "events", cfg.Events, "entities", cfg.Entities, "rate", cfg.Rate, "seed", cfg.Seed)
	return produceDemo(ctx, log, cfg.Kafka, demoStream{Events: cfg.Events, Entities: cfg.Entities, Rate: cfg.Rate, Seed: cfg.Seed}, os.Stderr)
}

// demoStream says what demo events to produce.
type demoStream struct {
	Events, Entities int
	Rate             float64
	Seed             int64
}

// produceDemo writes the demo stream to the event topic (created if missing) with a
// progress line on out. A live stream (rate > 0) carries event times from now on; a
// backfill (rate 0) ends at about now.
func produceDemo(ctx context.Context, log *slog.Logger, kc config.Kafka, s demoStream, out io.Writer) error {
	brokers := kc.BootstrapBrokers()
	if err := kafka.EnsureTopics(ctx, log, brokers, kc.Partitions, kc.Topic, kc.DLQTopic); err != nil {
		return err
	}
	w, err := kafka.NewWriter(brokers, kc.Topic)
	if err != nil {
		return err
	}
	defer w.Close()

	pace := s.Rate
	if pace == 0 {
		pace = demogen.DefaultEventsPerSecond
	}
	start := time.Now().UTC()
	if s.Rate == 0 {
		start = start.Add(-time.Duration(float64(s.Events) / pace * float64(time.Second)))
	}
	g := demogen.New(demogen.Config{Entities: s.Entities, Seed: s.Seed, Start: start, EventsPerSecond: pace})
	err = demogen.Stream(ctx, g, s.Events, kafka.WriterBatchSize, s.Rate, w.WriteEvents, func(p demogen.Progress) {
		fmt.Fprintf(out, "\rproduced %s   ", p)
		if p.Sent == p.Total {
			fmt.Fprintln(out)
		}
	})
	if err != nil {
		fmt.Fprintln(out)
		return err
	}
	return nil
}
