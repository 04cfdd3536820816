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
	"github.com/lambda-platform/lambda/internal/gctune"
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
	GC           gcSettings
	Arch         architectureSettings
	Roles        roleSet
	MetricsAddr  string
	DemoEvents   int
	DemoEntities int
	DemoRate     float64
	DemoHidden   []int
}

func runUp(ctx context.Context, args []string) error {
	cfg := upConfig{GC: gcSettings{def: gctune.FoldHeadroomMB}}
	f := config.NewFlags("up", "lambda up: run the platform's components in one process — by default every one: the embedded Kafka broker "+
		"(unless LAMBDA_KAFKA_BROKERS is set), migrations, topics, the forwarder, the archiver, the batch scheduler, the speed layer, "+
		"the Kappa replays' jobs and the HTTP API — optionally with demo data; with --roles, only some of them, so that a platform "+
		"runs as several processes"+rolesUsage())
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Kafka, &cfg.Runtime, &cfg.Log, &cfg.Batch, &cfg.Scoring, &cfg.Archiver,
		&cfg.Archive, &cfg.Speed, &cfg.API, &cfg.GC, &cfg.Arch)
	var roleList []string
	f.List(&roleList, "roles", "LAMBDA_ROLES", "all", "comma-separated roles this process runs (see above), or all")
	f.String(&cfg.MetricsAddr, "metrics-addr", "LAMBDA_METRICS_ADDR", "127.0.0.1:9104", "listen address of /metrics when the roles include no api")
	f.IntVar(&cfg.DemoEvents, "demo-events", 0, "produce this many demo events at start, train and activate a demo model if none is active, and run a first batch (0 = none; needs the api or scheduler role)")
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
	if cfg.Roles, err = parseRoles(roleList, cfg.Kafka.Embedded(), kappaMode); err != nil {
		return err
	}
	roles := cfg.Roles
	defer cfg.GC.start()()
	if cfg.DemoEvents > 0 && !roles.runsBatches() {
		return errors.New("--demo-events needs the api or scheduler role: it runs the first batch")
	}

	if roles[roleBroker] {
		broker, err := embedded.Start(ctx, embedded.Options{Dir: cfg.Runtime.KafkaDir(), Addr: cfg.Kafka.EmbeddedAddr}, log)
		if err != nil {
			return fmt.Errorf("embedded kafka: %w", err)
		}
		defer broker.Close()
		cfg.Kafka.Brokers = broker.Addrs() // the real port, when the address asked for port 0
	}
	brokers := cfg.Kafka.BootstrapBrokers()
	if err := kafka.EnsureTopics(ctx, log, brokers, cfg.Kafka.Partitions, cfg.Kafka.Topic, cfg.Kafka.DLQTopic); err != nil {
		return err
	}
	reg := newRegistry()
	var st *stack
	if roles.needsDatabases() {
		ch := &cfg.ClickHouse
		if kappaMode {
			ch = nil // no batch layer, no master dataset
		}
		if err := migrateAll(ctx, cfg.Postgres, ch, log); err != nil {
			return err
		}
		var closeStack func()
		parts := stackParts{ClickHouse: !kappaMode && (roles[roleSpeed] || roles[roleArchiver]), Runner: !kappaMode && roles.runsBatches()}
		st, closeStack, err = openStack(ctx, &cfg.batchConfig, log, parts, "roles", roles.String(), "archive", cfg.Archive, "speed", cfg.Speed,
			"api", cfg.API, "metrics_addr", cfg.MetricsAddr, "data_dir", cfg.Runtime.DataDir, "gc_headroom_mb", cfg.GC.HeadroomMB)
		if err != nil {
			return err
		}
		defer closeStack()
		reg = st.reg
	} else {
		log.Info("config", "roles", roles.String(), "kafka_brokers", brokers, "topic", cfg.Kafka.Topic, "metrics_addr", cfg.MetricsAddr,
			"gc_headroom_mb", cfg.GC.HeadroomMB)
	}
	addr := cfg.MetricsAddr
	if roles[roleAPI] {
		addr = cfg.API.Addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	if kappaMode && st != nil {
		// No batch layer and no speed layer: a Kappa replay's view answers.
		r, started, err := replays.EnsureServing(ctx, st.clients.pool, replays.Request{ModelName: cfg.Scoring.Model, RequestedBy: "lambda up (kappa)"})
		if err != nil {
			return err
		}
		log.Info("kappa architecture: readers answer from a replay's view", "replay", r.ID, "status", r.Status, "started", started)
	} else if st != nil {
		closeLambda, err := startLambda(gctx, g, cfg, st, brokers, batchSchedule)
		if err != nil {
			return err
		}
		defer closeLambda()
	}
	if roles[roleForwarder] {
		fwd, closeFwd, err := newForwarder(brokers, cfg.Kafka, reg, log)
		if err != nil {
			return err
		}
		defer closeFwd()
		g.Go(func() error { return fwd.Run(gctx) })
	}
	if roles[roleKappa] {
		g.Go(func() error {
			return kappa.New(kappa.Config{Speed: cfg.Speed.config(brokers, cfg.Kafka), DropGrace: cfg.Arch.DropGrace},
				st.clients.pool, registry.New(st.clients.pool, log), reg, log).Run(gctx)
		})
	}
	if roles[roleAPI] {
		api := st.apiDeps(&cfg.batchConfig, cfg.API, brokers, batchSchedule, ln)
		g.Go(func() error { return runAPI(gctx, api) })
		printURLs(os.Stderr, ln.Addr().String(), brokers, cfg.API.AdminToken, roles)
	} else {
		g.Go(func() error { return serveMetricsOn(gctx, ln, reg) })
		fmt.Fprintf(os.Stderr, "\n  lambda is running\n    roles        %s\n    metrics      http://%s/metrics\n    kafka        %s\n\n",
			roles, ln.Addr(), strings.Join(brokers, ","))
	}
	if cfg.DemoEvents > 0 {
		g.Go(func() error {
			err := runDemo(gctx, log, cfg, registry.New(st.clients.pool, log), st.spec, st.runner)
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		})
	}
	log.Info("lambda is up; Ctrl-C stops it", "architecture", cfg.Arch.Name, "roles", roles.String())
	err = g.Wait()
	log.Info("lambda stopped")
	return err
}

// startLambda starts the Lambda layers of `lambda up` that its roles name in g: the
// archiver, the batch scheduler, and the speed layer with the watcher that keeps its
// model current; closeFn closes what it opened once g is done.
func startLambda(ctx context.Context, g *errgroup.Group, cfg upConfig, st *stack, brokers []string, batchSchedule schedule.Schedule) (closeFn func(), err error) {
	c, reg, log := st.clients, st.reg, st.log
	closeFn = func() {}
	if cfg.Roles[roleSpeed] {
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
		g.Go(func() error { return speed.Run(ctx) })
		g.Go(func() error {
			watcher.Run(ctx)
			return nil
		})
		closeFn = func() { _ = holder.Close() }
	}
	if cfg.Roles[roleArchiver] {
		arch := archiver.New(cfg.Archive.config(brokers, cfg.Archiver, cfg.Kafka, cfg.ClickHouse), c.ch, reg, log)
		g.Go(func() error { return arch.Run(ctx) })
	}
	if cfg.Roles[roleScheduler] {
		sched := schedule.New(batchSchedule, st.runner, log, reg)
		g.Go(func() error { return sched.Run(ctx) })
	}
	return closeFn, nil
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

func printURLs(w io.Writer, httpAddr string, brokers []string, adminToken string, roles roleSet) {
	base := "http://" + httpAddr
	token := "(none: set LAMBDA_ADMIN_TOKEN to enable the mutating endpoints)"
	if adminToken != "" {
		token = "*** (LAMBDA_ADMIN_TOKEN; make run keeps it in .run/admin-token)" // never printed
	}
	fmt.Fprintf(w, `
  lambda is running
    roles        %[4]s
    api          %[1]s
    openapi      %[1]s/openapi.yaml
    health       %[1]s/healthz
    readiness    %[1]s/readyz
    metrics      %[1]s/metrics
    prediction   %[1]s/v1/entities/user-000001/prediction
    admin token  %[3]s
    kafka        %[2]s   (e.g. kcat -b %[2]s -C -t events -c 5)

`, base, strings.Join(brokers, ","), token, roles)
}
