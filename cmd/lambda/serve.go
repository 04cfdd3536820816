package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/batchlayer/schedule"
	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/gctune"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/report"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/tradeoffs"
	"github.com/lambda-platform/lambda/internal/views"
	"github.com/lambda-platform/lambda/servinglayer"
	"github.com/lambda-platform/lambda/servinglayer/edgeclient"
	"github.com/lambda-platform/lambda/servinglayer/predict"
	"github.com/lambda-platform/lambda/servinglayer/scoring"
)

// apiConfig is the HTTP API's section of `serve` and `up`.
type apiConfig struct {
	Addr          string
	AdminToken    string
	ReadToken     string
	BatchGetLimit int
	Timeout       time.Duration
	LookupTimeout time.Duration
	SpeedCacheMB  int
	CORSOrigins   []string
	ORTWebDir     string
	// TradeoffsSample is how often GET /v1/tradeoffs samples the process's metrics.
	TradeoffsSample time.Duration
}

// Register binds the section to flags.
func (c *apiConfig) Register(f *config.Flags) {
	f.String(&c.Addr, "http-addr", "LAMBDA_HTTP_ADDR", servinglayer.DefaultAddr, "HTTP API listen address")
	f.String(&c.AdminToken, "admin-token", "LAMBDA_ADMIN_TOKEN", "", "bearer token of the mutating endpoints (none: they answer 403)")
	f.String(&c.ReadToken, "read-token", "LAMBDA_READ_TOKEN", "", "bearer token of reads and ingest (none: open)")
	f.Int(&c.BatchGetLimit, "batch-get-limit", "LAMBDA_BATCH_GET_LIMIT", servinglayer.DefaultBatchGetLimit, "most ids of one POST /v1/predictions:batchGet")
	f.Duration(&c.Timeout, "http-timeout", "LAMBDA_HTTP_TIMEOUT", servinglayer.DefaultRequestTimeout, "bound of one request's work")
	f.Duration(&c.LookupTimeout, "lookup-timeout", "LAMBDA_LOOKUP_TIMEOUT", predict.DefaultLookupTimeout, "bound of one read of the speed view")
	f.Int(&c.SpeedCacheMB, "speed-cache-mb", "LAMBDA_SPEED_CACHE_MB", predict.DefaultSpeedCacheBytes>>20,
		"MiB of speed rows cached until PostgreSQL announces they changed")
	f.List(&c.CORSOrigins, "cors-origins", "LAMBDA_CORS_ORIGINS", "",
		"comma-separated origins (or patterns with *) whose browser pages may call the read, infer and download endpoints (none: same-origin only)")
	f.String(&c.ORTWebDir, "ort-web-dir", "LAMBDA_ORT_WEB_DIR", edgeclient.DefaultRuntimeDir,
		"directory of the onnxruntime-web files the browser client at /edge/ loads (scripts/services.sh fetches them)")
	f.Duration(&c.TradeoffsSample, "tradeoffs-sample", "LAMBDA_TRADEOFFS_SAMPLE", defaultTradeoffsSample,
		"how often GET /v1/tradeoffs samples this process's metrics; its windows go back 720 samples (2h at 10s)")
}

// defaultTradeoffsSample keeps two hours of trade-off samples.
const defaultTradeoffsSample = 10 * time.Second

// LogValue masks the tokens.
func (c apiConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("addr", c.Addr), slog.String("admin_token", config.Mask(c.AdminToken)),
		slog.String("read_token", config.Mask(c.ReadToken)), slog.Int("batch_get_limit", c.BatchGetLimit),
		slog.Duration("timeout", c.Timeout),
		slog.Duration("lookup_timeout", c.LookupTimeout), slog.Int("speed_cache_mb", c.SpeedCacheMB),
		slog.Any("cors_origins", c.CORSOrigins), slog.String("ort_web_dir", c.ORTWebDir), slog.Duration("tradeoffs_sample", c.TradeoffsSample))
}

// serveConfig is the batch commands' config (databases, broker, model, spec, schedule:
// a batch run triggered over REST executes in this process) and the API's.
type serveConfig struct {
	batchConfig
	API  apiConfig
	GC   gcSettings
	Arch architectureSettings
}

func runServe(ctx context.Context, args []string) error {
	cfg := serveConfig{GC: gcSettings{def: gctune.DefaultHeadroomMB}}
	f := config.NewFlags("serve", "lambda serve: the HTTP API alone, stateless (run as many replicas as needed); "+
		"Kafka, PostgreSQL and ClickHouse must be up and migrated. A batch run triggered over REST executes on the "+
		"replica that took the request; the batch lock keeps it to one across replicas")
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Kafka, &cfg.Runtime, &cfg.Log, &cfg.Batch, &cfg.Scoring, &cfg.Archiver, &cfg.API, &cfg.GC, &cfg.Arch)
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	kappaMode, err := cfg.Arch.kappaMode()
	if err != nil {
		return err
	}
	var sched servinglayer.Schedule // none: batch runs are only triggered
	if cfg.Batch.Schedule != "" {
		if sched, err = schedule.Parse(cfg.Batch.Schedule); err != nil {
			return err
		}
	}
	defer cfg.GC.start()()
	st, closeStack, err := openStack(ctx, &cfg.batchConfig, log, stackParts{ClickHouse: !kappaMode, Runner: !kappaMode}, "api", cfg.API,
		"gc_headroom_mb", cfg.GC.HeadroomMB)
	if err != nil {
		return err
	}
	defer closeStack()
	ln, err := net.Listen("tcp", cfg.API.Addr)
	if err != nil {
		return fmt.Errorf("http listen: %w", err)
	}
	log.Info("serving", "api", "http://"+ln.Addr().String(), "architecture", cfg.Arch.Name)
	return runAPI(ctx, st.apiDeps(&cfg.batchConfig, cfg.API, cfg.Kafka.BootstrapBrokers(), sched, ln))
}

// apiDeps are what runAPI builds the HTTP API from, in `serve` and in `up`.
type apiDeps struct {
	Config    apiConfig
	Log       *slog.Logger
	Registry  *prometheus.Registry // the process's metrics, served at /metrics
	Postgres  *pgxpool.Pool
	BatchView *views.Batch              // where the published runs' views are loaded from
	Spec      *features.Spec            // names the views' vector entries
	Model     string                    // the model /readyz requires loaded
	Schedule  servinglayer.Schedule     // the batch schedule GET /v1/batch/schedule shows; nil: none
	Brokers   []string                  // where POST /v1/events produces
	Kafka     config.Kafka              // its topic and the events' allowed clock skew
	Trigger   servinglayer.BatchTrigger // nil: runs cannot be triggered over REST
	Kappa     bool                      // the Kappa architecture: ready once a replay is live
	Listener  net.Listener
}

// stack is what `serve` and `up` share: the databases, the metrics registry, the batch
// runner (REST-triggered runs execute in the process) and the feature spec.
type stack struct {
	log     *slog.Logger
	clients *batchClients
	reg     *prometheus.Registry
	runner  *batchrun.Runner
	spec    *features.Spec
}

// stackParts are what openStack opens besides PostgreSQL, the ONNX Runtime and the
// feature spec. The Kappa architecture has neither.
type stackParts struct {
	ClickHouse bool // the master dataset
	Runner     bool // the batch runner (with ClickHouse)
}

// openStack opens the stack; the returned function closes it.
func openStack(ctx context.Context, cfg *batchConfig, log *slog.Logger, parts stackParts, attrs ...any) (*stack, func(), error) {
	c, closeClients, err := openClients(ctx, cfg, log, parts.ClickHouse || parts.Runner, attrs...)
	if err != nil {
		return nil, nil, err
	}
	st := &stack{log: log, clients: c, reg: newRegistry()}
	if parts.Runner {
		st.runner, err = newRunner(ctx, cfg, c, log, st.reg) // also loads the ONNX Runtime
	} else {
		err = inference.InitRuntime(cfg.Runtime.ORTLib)
	}
	if err == nil {
		st.spec, err = loadSpec(cfg.Scoring.Spec)
	}
	closeAll := func() {
		if st.runner != nil {
			st.runner.Close()
		}
		closeClients()
	}
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return st, closeAll, nil
}

// apiDeps are the API's dependencies on this stack.
func (st *stack) apiDeps(cfg *batchConfig, api apiConfig, brokers []string, sched servinglayer.Schedule, ln net.Listener) apiDeps {
	d := apiDeps{
		Config: api, Log: st.log, Registry: st.reg, Postgres: st.clients.pool, BatchView: st.clients.view, Spec: st.spec, Model: cfg.Scoring.Model, Schedule: sched,
		Brokers: brokers, Kafka: cfg.Kafka, Listener: ln,
	}
	if st.runner != nil {
		d.Trigger = st.runner
	} else { // the Kappa architecture
		d.Schedule, d.Kappa = nil, true
	}
	return d
}

// runAPI serves the HTTP API on d.Listener until ctx ends. The ONNX Runtime must be
// initialised.
func runAPI(ctx context.Context, d apiDeps) error {
	writer, err := kafka.NewWriter(d.Brokers, d.Kafka.Topic)
	if err != nil {
		return err
	}
	defer func() { _ = writer.Close() }()
	published := runs.NewReader(d.Postgres)
	var (
		speed  predict.SpeedView = views.NewSpeed(d.Postgres)
		served predict.Runs      = published
	)
	if d.Kappa { // no batch or speed layer: whatever their tables still hold is not served
		speed, served = noSpeedView{}, runs.None{}
	}
	predictions := predict.New(d.BatchView, speed, served,
		predict.Config{LookupTimeout: d.Config.LookupTimeout, SpeedCacheBytes: d.Config.SpeedCacheMB << 20}, d.Log, d.Registry).
		WithKappa(views.NewKappa(d.Postgres))
	models := registry.New(d.Postgres, d.Log)
	scorers := scoring.New(models, scoring.Options{Model: inference.Options{Observer: inference.NewRunMetrics(d.Registry)}, Registerer: d.Registry, Logger: d.Log})
	defer func() {
		if err := scorers.Close(); err != nil {
			d.Log.Warn("close models", "err", err)
		}
	}()
	checks := []servinglayer.Check{
		{Name: "postgres", Run: func(ctx context.Context) error { return d.Postgres.Ping(ctx) }},
		{Name: "model " + d.Model, Run: func(ctx context.Context) error { return scorers.Loaded(ctx, d.Model) }},
		{Name: "kafka", Run: func(ctx context.Context) error {
			_, err := kafka.PartitionCount(ctx, d.Brokers, d.Kafka.Topic)
			return err
		}},
	}
	if d.Kappa {
		checks = append(checks, servinglayer.Check{Name: "kappa view", Run: func(context.Context) error {
			if predictions.LiveKappa() == 0 {
				return errors.New("no Kappa replay is live yet: the first one is still replaying the log (lambda kappa list)")
			}
			return nil
		}})
	}
	recorder := tradeoffs.NewRecorder(d.Registry, d.Config.TradeoffsSample, d.Log)
	reporter := &tradeoffs.Reporter{Recorder: recorder, Postgres: d.Postgres, Architecture: "lambda"}
	if d.Kappa {
		reporter.Architecture = "kappa"
	} else {
		reporter.Compare = func(ctx context.Context, run, replay int64) (report.Rollout, error) {
			return report.NewRollout(ctx, report.RolloutDeps{Postgres: d.Postgres, Batch: d.BatchView, Models: models}, run, replay)
		}
	}
	api, err := servinglayer.NewServer(servinglayer.Deps{
		Log: d.Log, Gatherer: d.Registry, Registerer: d.Registry,
		Predictions: predictions, Runs: published, Trigger: d.Trigger, Producer: writer, Models: models, Scorers: scorers,
		Replays: replays.NewRegistry(d.Postgres), Tradeoffs: reporter,
		FeatureNames: d.Spec.FeatureNames(), Checks: checks,
	}, servinglayer.Config{
		AdminToken: d.Config.AdminToken, ReadToken: d.Config.ReadToken, BatchGetLimit: d.Config.BatchGetLimit,
		RequestTimeout: d.Config.Timeout, BatchSchedule: d.Schedule, Version: version,
		MaxClockSkew: d.Kafka.MaxClockSkew, CORSOrigins: d.Config.CORSOrigins, ORTWebDir: d.Config.ORTWebDir, Model: d.Model, SwitchReplays: d.Kappa,
	})
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		predictions.Run(gctx)
		return nil
	})
	g.Go(func() error {
		recorder.Run(gctx)
		return nil
	})
	g.Go(func() error { return api.Serve(gctx, d.Listener) })
	return g.Wait()
}

// noSpeedView is the speed view of the Kappa architecture: empty.
type noSpeedView struct{}

func (noSpeedView) SpeedRows(context.Context, []string) ([]views.SpeedRow, error) { return nil, nil }

func (noSpeedView) ListenChanges(ctx context.Context, ready func(), _ func([]string)) error {
	ready()
	<-ctx.Done()
	return nil
}
