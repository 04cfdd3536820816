package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/batchlayer/schedule"
	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/demomodel"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/kafka/embedded"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/speedlayer/kappa"
)

type upConfig struct {
	batchConfig
	Archive      archiveSettings
	Speed        speedSettings
	API          apiConfig
	Arch         architectureSettings
	DemoEvents   int
	DemoEntities int
	DemoRate     float64
	DemoHidden   []int
}

func runUp(ctx context.Context, args []string) error {
	cfg := upConfig{API: apiConfig{gcHeadroomDefault: upGCHeadroomMB}}
	f := config.NewFlags("up", "lambda up: run every component in one process — the embedded Kafka broker (unless LAMBDA_KAFKA_BROKERS is set), migrations, topics, the forwarder, the archiver, the batch scheduler, the speed layer, the Kappa replays' jobs and the HTTP API — optionally with demo data")
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Kafka, &cfg.Runtime, &cfg.Log, &cfg.Batch, &cfg.Scoring, &cfg.Archiver,
		&cfg.Archive, &cfg.Speed, &cfg.API, &cfg.Arch)
	f.IntVar(&cfg.DemoEvents, "demo-events", 0, "produce this many demo events at start, train and activate a demo model if none is active, and run a first batch (0 = none)")
	f.IntVar(&cfg.DemoEntities, "demo-entities", 5000, "distinct entities in the demo events")
	f.Float64Var(&cfg.DemoRate, "demo-rate", 0, "demo events per second; 0 = as fast as possible")
	var demoHidden string
	f.String(&demoHidden, "demo-hidden", "LAMBDA_DEMO_HIDDEN", "large", "hidden layers of the demo model, as lambda model train --hidden: large (256,128: 149 KB fp32, 43 KB int8, ~10 s to train), small (64: 5 KB, ~1 s) or widths")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	if cfg.DemoHidden, err = parseHidden(demoHidden); err != nil {
		return fmt.Errorf("--demo-hidden %w", err)
	}
	batchSchedule, err := schedule.Parse(cfg.Batch.Schedule)
	if err != nil {
		return err
	}
	kappaMode, err := cfg.Arch.kappaMode()
	if err != nil {
		return err
	}

	if cfg.Kafka.Embedded() {
		broker, err := embedded.Start(ctx, embedded.Options{Dir: cfg.Runtime.KafkaDir(), Addr: cfg.Kafka.EmbeddedAddr}, log)
		if err != nil {
			return fmt.Errorf("embedded kafka: %w", err)
		}
		defer broker.Close()
		cfg.Kafka.Brokers = broker.Addrs() // the real port, when the address asked for port 0
	}
	brokers := cfg.Kafka.Brokers
	if err := kafka.EnsureTopics(ctx, log, brokers, cfg.Kafka.Partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic); err != nil {
		return err
	}
	ch := &cfg.ClickHouse
	if kappaMode {
		ch = nil // no batch layer, no master dataset
	}
	if err := migrateAll(ctx, cfg.Postgres, ch, log); err != nil {
		return err
	}
	st, closeStack, err := openStack(ctx, &cfg.batchConfig, log, kappaMode, "archive", cfg.Archive, "speed", cfg.Speed, "api", cfg.API,
		"data_dir", cfg.Runtime.DataDir)
	if err != nil {
		return err
	}
	defer closeStack()
	c, reg, runner, spec := st.clients, st.reg, st.runner, st.spec
	models := registry.New(c.pool, log)
	fwd, closeFwd, err := newForwarder(brokers, cfg.Kafka, reg, log)
	if err != nil {
		return err
	}
	defer closeFwd()
	ln, err := net.Listen("tcp", cfg.API.Addr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	api := st.apiDeps(&cfg.batchConfig, cfg.API, brokers, batchSchedule, ln)
	g, gctx := errgroup.WithContext(ctx)
	if kappaMode {
		// No batch layer and no speed layer: a Kappa replay's view answers.
		r, started, err := replays.EnsureServing(ctx, c.pool, replays.Request{ModelName: cfg.Scoring.Model, RequestedBy: "lambda up (kappa)"})
		if err != nil {
			return err
		}
		log.Info("kappa architecture: readers answer from a replay's view", "replay", r.ID, "status", r.Status, "started", started)
	} else {
		closeLambda, err := startLambda(gctx, g, cfg, st, brokers, batchSchedule)
		if err != nil {
			return err
		}
		defer closeLambda()
	}
	printURLs(os.Stderr, ln.Addr().String(), brokers, cfg.API.AdminToken)
	g.Go(func() error { return fwd.Run(gctx) })
	g.Go(func() error {
		return kappa.New(kappa.Config{Speed: cfg.Speed.config(brokers, cfg.Kafka), DropGrace: cfg.Arch.DropGrace}, c.pool, models, reg, log).Run(gctx)
	})
	g.Go(func() error { return runAPI(gctx, api) })
	if cfg.DemoEvents > 0 {
		g.Go(func() error {
			err := runDemo(gctx, log, cfg, models, spec, runner)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	log.Info("lambda is up; Ctrl-C stops it", "architecture", cfg.Arch.Name)
	err = g.Wait()
	log.Info("lambda stopped")
	return err
}

// startLambda starts the Lambda layers of `lambda up` in g: the archiver, the batch
// scheduler and the speed layer with the watcher that keeps its model current;
// closeFn closes what it opened once g is done.
func startLambda(ctx context.Context, g *errgroup.Group, cfg upConfig, st *stack, brokers []string, batchSchedule schedule.Schedule) (closeFn func(), err error) {
	c, reg, log := st.clients, st.reg, st.log
	holder := inference.NewHolder(log)
	// It shares the model metrics with the API's watchers: the loaded version is exported
	// from start-up, not from the first inference request on.
	watcher := registry.NewWatcher(registry.New(c.pool, log), cfg.Scoring.Model, holder, registry.WatcherOptions{
		Model: inference.Options{Observer: inference.NewRunMetrics(reg)}, Metrics: registry.NewMetrics(reg), Logger: log,
	})
	speed, err := newSpeedLayer(cfg.Speed, st.spec, speedDeps{
		Log: log, Registry: reg, Postgres: c.pool, Events: c.events, View: c.view,
		Brokers: brokers, Kafka: cfg.Kafka, Holder: holder,
	})
	if err != nil {
		_ = holder.Close()
		return nil, err
	}
	arch := archiver.New(cfg.Archive.config(brokers, cfg.Archiver, cfg.Kafka, cfg.ClickHouse), c.ch, reg, log)
	sched := schedule.New(batchSchedule, st.runner, log, reg)
	g.Go(func() error { return arch.Run(ctx) })
	g.Go(func() error { return speed.Run(ctx) })
	g.Go(func() error { return sched.Run(ctx) })
	g.Go(func() error {
		watcher.Run(ctx)
		return nil
	})
	return func() { _ = holder.Close() }, nil
}

// runDemo fills an empty platform: demo events into Kafka, a demo model trained and
// activated if the scoring model has no active version, then a first batch run once the
// archiver has every event.
func runDemo(ctx context.Context, log *slog.Logger, cfg upConfig, models *registry.Registry, spec *features.Spec, runner *batchrun.Runner) error {
	err := produceDemo(ctx, log, cfg.Kafka, demoStream{Events: cfg.DemoEvents, Entities: cfg.DemoEntities, Rate: cfg.DemoRate, Seed: time.Now().UnixNano()}, os.Stderr)
	if err != nil {
		return err
	}
	if _, err := models.Active(ctx, cfg.Scoring.Model); errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrNoActive) {
		log.Info("no active model: training a demo model", "model", cfg.Scoring.Model, "hidden", cfg.DemoHidden)
		res, err := demomodel.Train(ctx, models, spec, demomodel.Options{
			Name: cfg.Scoring.Model, Kind: train.MLP, Hidden: cfg.DemoHidden, Events: train.DefaultDemoEvents, Entities: cfg.DemoEntities,
			Seed: 1, Holdout: 0.2, Mode: quantize.Modes[0], Logger: log,
		})
		if err != nil {
			return fmt.Errorf("train the demo model: %w", err)
		}
		v := res.Version
		if err := models.Activate(ctx, v.Model, v.Version); err != nil {
			return err
		}
		log.Info("demo model active", "model", v.String())
	} else if err != nil {
		return err
	}
	if runner == nil { // no batch layer: the Kappa replay folds the events
		return nil
	}
	if err := archiver.WaitCaughtUp(ctx, cfg.Kafka.Brokers, cfg.Archiver.ID, cfg.Kafka.Topic); err != nil {
		return err
	}
	run, _, err := runner.Trigger(ctx, "cli", "lambda up --demo-events")
	if err != nil {
		return fmt.Errorf("first batch run: %w", err)
	}
	run, err = runner.Wait(ctx, run.ID)
	if err != nil {
		return fmt.Errorf("first batch run: %w", err)
	}
	log.Info("first batch run done", "run", run.ID, "status", run.Status, "entities", run.EntitiesScored)
	return nil
}

func printURLs(w io.Writer, httpAddr string, brokers []string, adminToken string) {
	base := "http://" + httpAddr
	token := "(none: set LAMBDA_ADMIN_TOKEN to enable the mutating endpoints)"
	if adminToken != "" {
		token = "*** (LAMBDA_ADMIN_TOKEN; make run keeps it in .run/admin-token)" // never printed
	}
	fmt.Fprintf(w, `
  lambda is running
    api          %[1]s
    openapi      %[1]s/openapi.yaml
    health       %[1]s/healthz
    readiness    %[1]s/readyz
    metrics      %[1]s/metrics
    prediction   %[1]s/v1/entities/user-000001/prediction
    admin token  %[3]s
    kafka        %[2]s   (e.g. kcat -b %[2]s -C -t events -c 5)

`, base, strings.Join(brokers, ","), token)
}
