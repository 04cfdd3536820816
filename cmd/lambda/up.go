package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/embedded"
	"github.com/lambda-platform/lambda/servinglayer"
)

type upConfig struct {
	Postgres     config.Postgres
	ClickHouse   config.ClickHouse
	Kafka        config.Kafka
	Runtime      config.Runtime
	Log          config.Log
	HTTPAddr     string
	DemoEvents   int
	DemoEntities int
	DemoRate     float64
}

func runUp(ctx context.Context, args []string) error {
	var cfg upConfig
	f := config.NewFlags("up", "lambda up: run every component in one process — the embedded Kafka broker (unless LAMBDA_KAFKA_BROKERS is set), migrations, topics and the HTTP API — optionally with demo data")
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Kafka, &cfg.Runtime, &cfg.Log)
	f.String(&cfg.HTTPAddr, "http-addr", "LAMBDA_HTTP_ADDR", "127.0.0.1:8080", "HTTP API listen address")
	f.IntVar(&cfg.DemoEvents, "demo-events", 0, "produce this many demo events at start (0 = none)")
	f.IntVar(&cfg.DemoEntities, "demo-entities", 5000, "distinct entities in the demo events")
	f.Float64Var(&cfg.DemoRate, "demo-rate", 0, "demo events per second; 0 = as fast as possible")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	log.Info("config", "postgres", cfg.Postgres, "clickhouse", cfg.ClickHouse,
		"kafka_brokers", cfg.Kafka.Brokers, "kafka_embedded", cfg.Kafka.Embedded(), "topic", cfg.Kafka.Topic,
		"partitions", cfg.Kafka.Partitions, "data_dir", cfg.Runtime.DataDir, "ort_lib", cfg.Runtime.ORTLib, "http_addr", cfg.HTTPAddr)

	brokers := cfg.Kafka.Brokers
	if cfg.Kafka.Embedded() {
		broker, err := embedded.Start(ctx, embedded.Options{Dir: cfg.Runtime.KafkaDir(), Addr: cfg.Kafka.EmbeddedAddr}, log)
		if err != nil {
			return fmt.Errorf("embedded kafka: %w", err)
		}
		defer broker.Close()
		brokers = broker.Addrs() // the real port, when the address asked for port 0
		cfg.Kafka.Brokers = brokers
	}
	if err := kafka.EnsureTopics(ctx, log, brokers, cfg.Kafka.Partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic); err != nil {
		return err
	}
	if err := migrateAll(ctx, cfg.Postgres, cfg.ClickHouse, log); err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	ch, err := openClickHouse(ctx, cfg.ClickHouse)
	if err != nil {
		return err
	}
	defer ch.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	api := servinglayer.New(log, reg, []servinglayer.Check{
		{Name: "postgres", Run: func(ctx context.Context) error { return pool.Ping(ctx) }},
		{Name: "clickhouse", Run: ch.Ping},
		{Name: "kafka", Run: func(ctx context.Context) error {
			_, err := kafka.PartitionCount(ctx, brokers, cfg.Kafka.Topic)
			return err
		}},
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	printURLs(ln.Addr().String(), brokers)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return api.Serve(gctx, ln) })
	if cfg.DemoEvents > 0 {
		g.Go(func() error {
			err := produceDemo(gctx, log, cfg.Kafka, demoStream{Events: cfg.DemoEvents, Entities: cfg.DemoEntities, Rate: cfg.DemoRate, Seed: time.Now().UnixNano()}, os.Stderr)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	log.Info("lambda is up; Ctrl-C stops it")
	err = g.Wait()
	log.Info("lambda stopped")
	return err
}

func printURLs(httpAddr string, brokers []string) {
	base := "http://" + httpAddr
	fmt.Fprintf(os.Stderr, `
  lambda is running
    api        %[1]s
    health     %[1]s/healthz
    readiness  %[1]s/readyz
    metrics    %[1]s/metrics
    kafka      %[2]s   (e.g. kcat -b %[2]s -C -t events -c 5)

`, base, strings.Join(brokers, ","))
}
