package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/batchlayer/archiver"
	"github.com/lambda-platform/lambda/batchlayer/batchrun"
	"github.com/lambda-platform/lambda/batchlayer/parquetio"
	"github.com/lambda-platform/lambda/batchlayer/schedule"
	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/config"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/views"
)

var batchCommands = []modelCommand{
	{"run", "start a batch run now and follow it to its end", runBatchRun},
	{"worker", "work one shard of a sharded batch run (--shards N --workers external)", runBatchWorker},
	{"runs", "list the newest batch runs", runBatchRuns},
	{"schedule", "trigger batch runs on LAMBDA_BATCH_SCHEDULE until stopped", runBatchSchedule},
	{"import", "backfill the master dataset from a Parquet file of events", runBatchImport},
	{"export", "write a batch run's view to a Parquet file", runBatchExport},
}

func runBatch(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		batchUsage(os.Stdout)
		return nil
	}
	i := slices.IndexFunc(batchCommands, func(c modelCommand) bool { return c.name == args[0] })
	if i < 0 {
		batchUsage(os.Stderr)
		return fmt.Errorf("unknown batch command %q", args[0])
	}
	return batchCommands[i].run(ctx, args[1:], os.Stdout)
}

func batchUsage(w io.Writer) {
	fmt.Fprintln(w, "lambda batch: the batch layer\n\nUsage: lambda batch <command> [flags]   (lambda batch <command> -h for its flags)\n\nCommands:")
	for _, c := range batchCommands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
}

// batchSettings are the batch layer's settings. Model and Spec use the speed layer's
// flags and variables (a command registering both sections must register them once);
// the archiver group reads `lambda archive`'s variable under a flag name of its own.
type batchSettings struct {
	Schedule  string
	Retention int
	ChunkRows int
	Parallel  int
	Shards    int
	Workers   string
}

// Shard workers (batchSettings.Workers).
const (
	workersGoroutines = "goroutines"
	workersExternal   = "external"
)

// Register binds the section to flags.
func (s *batchSettings) Register(f *config.Flags) {
	f.String(&s.Schedule, "schedule", "LAMBDA_BATCH_SCHEDULE", schedule.DefaultSpec, "cron expression (5 fields, optionally a leading seconds field, or @hourly, @every 30m) of scheduled batch runs")
	f.Int(&s.Retention, "retention", "LAMBDA_BATCH_RETENTION", batchrun.DefaultRetention, "published batch runs whose view is kept")
	f.Int(&s.ChunkRows, "chunk-rows", "LAMBDA_BATCH_CHUNK_ROWS", batchrun.DefaultChunkRows, "about how many events one chunk read from ClickHouse holds (in memory, --parallel at a time)")
	f.Int(&s.Parallel, "parallel", "LAMBDA_BATCH_PARALLEL", batchrun.DefaultParallel, "chunks read, folded and written at once (per shard)")
	f.Int(&s.Shards, "shards", "LAMBDA_BATCH_SHARDS", 1, "shards of a run's entities (by home partition), each read, folded, scored and written by its own worker; the run publishes once all succeeded")
	f.String(&s.Workers, "workers", "LAMBDA_BATCH_WORKERS", workersGoroutines, "who works the shards of a run: goroutines (of this process) or external (processes of: lambda batch worker --run ID --shard I/N, such as the Kubernetes Indexed Job; the run waits for them)")
}

// runnerConfig is the batch runner's config from s.
func (s batchSettings) runnerConfig(database string) (batchrun.Config, error) {
	if s.Workers != workersGoroutines && s.Workers != workersExternal {
		return batchrun.Config{}, fmt.Errorf("--workers %q: want %s or %s", s.Workers, workersGoroutines, workersExternal)
	}
	if s.Shards < 1 {
		return batchrun.Config{}, fmt.Errorf("--shards %d: want 1 or more", s.Shards)
	}
	return batchrun.Config{
		Database: database, Retention: s.Retention, ChunkRows: s.ChunkRows, Parallel: s.Parallel,
		Shards: s.Shards, ExternalWorkers: s.Workers == workersExternal,
	}, nil
}

type batchConfig struct {
	Postgres   config.Postgres
	ClickHouse config.ClickHouse
	Kafka      config.Kafka
	Runtime    config.Runtime
	Log        config.Log
	Batch      batchSettings
	Scoring    scoringSettings
	Archiver   archiverGroup
}

func newBatchFlags(cmd, usage string, cfg *batchConfig) *config.Flags {
	f := config.NewFlags("batch "+cmd, "lambda batch "+cmd+": "+usage)
	f.Add(&cfg.Postgres, &cfg.ClickHouse, &cfg.Kafka, &cfg.Runtime, &cfg.Log, &cfg.Batch, &cfg.Scoring, &cfg.Archiver)
	return f
}

// batchClients are the opened databases of a batch command.
type batchClients struct {
	pool   *pgxpool.Pool
	ch     driver.Conn
	events *master.Dataset
	view   *views.Batch
}

func openBatch(ctx context.Context, cfg *batchConfig, log *slog.Logger, attrs ...any) (*batchClients, func(), error) {
	return openClients(ctx, cfg, log, true, attrs...)
}

// openClients opens PostgreSQL and, withClickHouse, ClickHouse (without, ch and events
// are nil: the Kappa architecture has no batch layer).
func openClients(ctx context.Context, cfg *batchConfig, log *slog.Logger, withClickHouse bool, attrs ...any) (*batchClients, func(), error) {
	log.Info("config", append([]any{"postgres", cfg.Postgres, "clickhouse", cfg.ClickHouse,
		"kafka_brokers", cfg.Kafka.BootstrapBrokers(), "topic", cfg.Kafka.Topic, "ort_lib", cfg.Runtime.ORTLib,
		"batch", cfg.Batch}, attrs...)...)
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return nil, nil, err
	}
	c := &batchClients{pool: pool, view: views.NewBatch(cfg.ClickHouse.Stream(), cfg.ClickHouse.Database)}
	if !withClickHouse {
		return c, pool.Close, nil
	}
	if c.ch, err = openClickHouse(ctx, cfg.ClickHouse); err != nil {
		pool.Close()
		return nil, nil, err
	}
	c.events = master.New(c.ch, cfg.ClickHouse.Stream(), cfg.ClickHouse.Database)
	return c, func() { _ = c.ch.Close(); pool.Close() }, nil
}

// openRunner opens the batch clients and a runner on them for a batch command; close
// closes the runner (cancelling, and marking failed, a run it started) and then the
// clients.
func openRunner(ctx context.Context, cfg *batchConfig, log *slog.Logger, reg prometheus.Registerer, attrs ...any) (*batchrun.Runner, func(), error) {
	c, closeClients, err := openBatch(ctx, cfg, log, attrs...)
	if err != nil {
		return nil, nil, err
	}
	runner, err := newRunner(ctx, cfg, c, log, reg)
	if err != nil {
		closeClients()
		return nil, nil, err
	}
	return runner, func() { runner.Close(); closeClients() }, nil
}

// newRunner wires a batch runner: cutoff from the archiver group's committed offsets,
// the active version of the model from the registry, loaded for each run.
func newRunner(ctx context.Context, cfg *batchConfig, c *batchClients, log *slog.Logger, reg prometheus.Registerer) (*batchrun.Runner, error) {
	runnerCfg, err := cfg.Batch.runnerConfig(cfg.ClickHouse.Database)
	if err != nil {
		return nil, err
	}
	if err := inference.InitRuntime(cfg.Runtime.ORTLib); err != nil {
		return nil, err
	}
	spec, err := loadSpec(cfg.Scoring.Spec)
	if err != nil {
		return nil, err
	}
	models := registry.New(c.pool, log)
	onnxRuns := inference.NewRunMetrics(reg)
	brokers := cfg.Kafka.BootstrapBrokers()
	return batchrun.New(ctx, batchrun.Deps{
		Postgres: c.pool, ClickHouse: c.ch, Events: c.events, Log: log, Registerer: reg,
		Coverage: batchrun.CoverageFunc(func(ctx context.Context) (map[int]int64, error) {
			return archiver.Coverage(ctx, brokers, cfg.Archiver.ID, cfg.Kafka.Topic)
		}),
		Models: batchrun.ModelsFunc(func(ctx context.Context, fn func(batchrun.Model, *features.Spec) error) error {
			v, err := models.Active(ctx, cfg.Scoring.Model)
			if err != nil {
				return err
			}
			m, err := models.Load(ctx, v, registry.FP32, inference.Options{Logger: log, Observer: onnxRuns})
			if err != nil {
				return err
			}
			defer m.Close()
			return fn(m, spec)
		}),
	}, runnerCfg)
}

func runBatchWorker(ctx context.Context, args []string, out io.Writer) error {
	var cfg batchConfig
	var (
		id        int64
		shardText string
		start     bool
	)
	f := newBatchFlags("worker", "work shard I/N of a batch run started with --shards N --workers external: claim it, read, fold, score and write its entities with the run's cutoff and model, and record its counts; exits non-zero when the shard failed (which fails the run)", &cfg)
	f.Int64Var(&id, "run", 0, "batch run id (0: the running run, once it has recorded its shards; waited for up to "+shardWait.String()+")")
	f.String(&shardText, "shard", "LAMBDA_BATCH_SHARD", "", "shard I/N (0 ≤ I < N); given as N, I is JOB_COMPLETION_INDEX, the index of a Kubernetes Indexed Job's pod")
	f.BoolVar(&start, "start", false, "the worker of shard 0 starts the run (as lambda batch run --shards N --workers external does, in this process) and exits once it published or failed; the other workers take --run 0: an Indexed Job is then a whole sharded run")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	if index := os.Getenv("JOB_COMPLETION_INDEX"); index != "" && !strings.Contains(shardText, "/") {
		shardText = index + "/" + shardText
	}
	shard, err := master.ParseShard(shardText)
	if err != nil {
		return err
	}
	if shard.Of < 2 {
		return fmt.Errorf("--shard %s: a sharded run has 2 or more shards", shard)
	}
	cfg.Batch.Shards, cfg.Batch.Workers = shard.Of, workersExternal
	c, closeClients, err := openBatch(ctx, &cfg, log, "run", id, "shard", shard, "start", start)
	if err != nil {
		return err
	}
	defer closeClients()
	runner, err := newRunner(ctx, &cfg, c, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer runner.Close() // a run this process started is cancelled and marked failed
	starts := start && shard.Index == 0
	switch {
	case starts:
		run, started, err := runner.Trigger(ctx, runs.TriggerCLI, requester())
		if err != nil {
			return err
		}
		if !started {
			return fmt.Errorf("batch run %d is already running: a worker starts no second run", run.ID)
		}
		id = run.ID
	}
	if id, err = awaitShardedRun(ctx, c.pool, id); err != nil {
		return err
	}
	begin := time.Now()
	counts, err := runner.Work(ctx, id, shard, fmt.Sprintf("%s pid %d", requester(), os.Getpid()))
	if err != nil {
		return fmt.Errorf("shard %s of batch run %d: %w", shard, id, err)
	}
	fmt.Fprintf(out, "shard %s of batch run %d succeeded: %s events, %s entities in %v\n",
		shard, id, count(counts.EventsRead), count(counts.EntitiesScored), time.Since(begin).Round(time.Millisecond))
	if !starts {
		return nil
	}
	final, err := runner.Wait(ctx, id)
	if err != nil {
		return err
	}
	if final.Status != runs.StatusPublished {
		return fmt.Errorf("batch run %d %s: %s", final.ID, final.Status, final.Error)
	}
	fmt.Fprintf(out, "batch run %d published: %s events, %s entities in %d shards\n",
		final.ID, count(final.EventsRead), count(final.EntitiesScored), shard.Of)
	return nil
}

// shardWait bounds how long a worker waits for a running run with shards.
const shardWait = 5 * time.Minute

// awaitShardedRun returns run id (0: the running run) once it has recorded its
// shards, waiting up to shardWait: a run records them after planning its read.
func awaitShardedRun(ctx context.Context, pool *pgxpool.Pool, id int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, shardWait)
	defer cancel()
	for {
		run, err := runs.Running(ctx, pool)
		if err == nil && (id == 0 || run.ID == id) {
			if shards, err := runs.Shards(ctx, pool, run.ID); err == nil && len(shards) > 0 {
				return run.ID, nil
			}
		}
		if id != 0 && errors.Is(err, runs.ErrNotFound) || err == nil && id != 0 && run.ID != id {
			return 0, fmt.Errorf("batch run %d is not running", id)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no running batch run with shards: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func runBatchRun(ctx context.Context, args []string, out io.Writer) error {
	var cfg batchConfig
	f := newBatchFlags("run", "start a batch run now (unless one is running) and follow it: read every archived event, fold, score with the active model, write and publish the batch view", &cfg)
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	runner, closeRunner, err := openRunner(ctx, &cfg, log, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer closeRunner() // Ctrl-C: the run is cancelled and marked failed
	run, started, err := runner.Trigger(ctx, runs.TriggerCLI, requester())
	if err != nil {
		return err
	}
	if !started {
		fmt.Fprintf(out, "batch run %d is already running (trigger %s, requested by %q, started %s)\n",
			run.ID, run.Trigger, run.RequestedBy, run.StartedAt.Local().Format(time.DateTime))
		return nil
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if p, ok := runner.Progress(); ok {
					fmt.Fprintf(os.Stderr, "\r%s\033[K", progressLine(p, time.Now()))
				}
			}
		}
	}()
	final, err := runner.Wait(ctx, run.ID)
	close(stop)
	<-done
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	elapsed := final.FinishedAt.Sub(final.StartedAt)
	if final.Status != runs.StatusPublished {
		return fmt.Errorf("batch run %d %s after %v: %s", final.ID, final.Status, elapsed.Round(time.Millisecond), final.Error)
	}
	fmt.Fprintf(out, "batch run %d published: %s events, %s entities in %v (%s events/s), cutoff event time %s, model %s@%d\n",
		final.ID, count(final.EventsRead), count(final.EntitiesScored), elapsed.Round(time.Millisecond),
		count(int64(float64(final.EventsRead)/elapsed.Seconds())), final.CutoffEventTime.Format(time.RFC3339), final.ModelName, final.ModelVersion)
	return nil
}

// progressLine renders a run's progress: events read, entities scored, rate, ETA.
func progressLine(p batchrun.Progress, now time.Time) string {
	elapsed := now.Sub(p.Started)
	rate := float64(p.EventsRead) / elapsed.Seconds()
	s := fmt.Sprintf("batch run %d: %s", p.RunID, count(p.EventsRead))
	if p.TotalEvents > 0 {
		s += fmt.Sprintf(" of %s events (%.0f%%)", count(p.TotalEvents), 100*float64(p.EventsRead)/float64(p.TotalEvents))
	} else {
		s += " events"
	}
	s += fmt.Sprintf(", %s entities scored, %s events/s", count(p.EntitiesScored), count(int64(rate)))
	if rate > 0 && p.TotalEvents > p.EventsRead {
		s += ", ETA " + (time.Duration(float64(p.TotalEvents-p.EventsRead)/rate) * time.Second).Round(time.Second).String()
	}
	return s
}

// count renders n compactly: 950, 12.3k, 4.56M.
func count(n int64) string {
	switch {
	case n >= 1e6:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 2, 64) + "M"
	case n >= 1e4:
		return strconv.FormatFloat(float64(n)/1e3, 'f', 1, 64) + "k"
	}
	return strconv.FormatInt(n, 10)
}

// requester names who asked for a CLI run: user@host.
func requester() string {
	host, _ := os.Hostname()
	name := strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return name + "@" + host
}

func runBatchRuns(ctx context.Context, args []string, out io.Writer) error {
	var cfg batchConfig
	var limit int
	f := newBatchFlags("runs", "list the newest batch runs, newest first", &cfg)
	f.IntVar(&limit, "n", 20, "how many runs")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	pool, err := openPostgres(ctx, cfg.Postgres)
	if err != nil {
		return err
	}
	defer pool.Close()
	log.Debug("config", "postgres", cfg.Postgres)
	list, err := runs.List(ctx, pool, limit)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tTRIGGER\tREQUESTED BY\tSTARTED\tDURATION\tEVENTS\tENTITIES\tCUTOFF EVENT TIME\tMODEL\tERROR")
	for _, r := range list {
		dur, cutoff, model := "", "", ""
		if !r.FinishedAt.IsZero() {
			dur = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
		}
		if !r.CutoffEventTime.IsZero() {
			cutoff = r.CutoffEventTime.Format(time.RFC3339)
		}
		if r.ModelName != "" {
			model = fmt.Sprintf("%s@%d", r.ModelName, r.ModelVersion)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.ID, r.Status, r.Trigger, r.RequestedBy,
			r.StartedAt.Local().Format(time.DateTime), dur, r.EventsRead, r.EntitiesScored, cutoff, model, r.Error)
	}
	return tw.Flush()
}

func runBatchSchedule(ctx context.Context, args []string, _ io.Writer) error {
	var cfg batchConfig
	var metricsAddr string
	f := newBatchFlags("schedule", "trigger batch runs on the cron schedule until stopped; run it on any number of replicas: one run at a time starts", &cfg)
	f.String(&metricsAddr, "metrics-addr", "LAMBDA_BATCH_METRICS_ADDR", "127.0.0.1:9103", "listen address of /metrics")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	batchSchedule, err := schedule.Parse(cfg.Batch.Schedule)
	if err != nil {
		return err
	}
	reg := newRegistry()
	runner, closeRunner, err := openRunner(ctx, &cfg, log, reg, "metrics_addr", metricsAddr)
	if err != nil {
		return err
	}
	defer closeRunner()
	sched := schedule.New(batchSchedule, runner, log, reg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sched.Run(gctx) })
	g.Go(func() error { return serveMetrics(gctx, metricsAddr, reg) })
	return g.Wait()
}

func runBatchImport(ctx context.Context, args []string, out io.Writer) error {
	var cfg batchConfig
	f := newBatchFlags("import", "backfill the master dataset from FILE.parquet (columns event_id, entity_id, type, ts, optional value and attrs); every row is validated before anything is written, and every later batch run includes the rows", &cfg)
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	if f.NArg() != 1 {
		return errors.New("usage: lambda batch import [flags] FILE.parquet")
	}
	path := f.Arg(0)
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	c, closeClients, err := openBatch(ctx, &cfg, log, "file", path)
	if err != nil {
		return err
	}
	defer closeClients()
	start := time.Now()
	res, err := parquetio.Import(ctx, file, c.events, c.pool)
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	fmt.Fprintf(out, "imported %d events from %s in %v (import sequence numbers %d to %d)\n",
		res.Rows, path, time.Since(start).Round(time.Millisecond), res.FirstOffset, res.LastOffset)
	return nil
}

func runBatchExport(ctx context.Context, args []string, out io.Writer) error {
	var cfg batchConfig
	var id int64
	f := newBatchFlags("export", "write the batch view of a run (default: the published one) to FILE.parquet", &cfg)
	f.Int64Var(&id, "run", 0, "batch run id (0: the published run)")
	log, err := parse(f, args, &cfg.Log)
	if err != nil {
		return err
	}
	if f.NArg() != 1 {
		return errors.New("usage: lambda batch export [--run ID] [flags] FILE.parquet")
	}
	path := f.Arg(0)
	c, closeClients, err := openBatch(ctx, &cfg, log, "file", path, "run", id)
	if err != nil {
		return err
	}
	defer closeClients()
	run, err := runs.Published(ctx, c.pool)
	if id != 0 {
		run, err = runs.Get(ctx, c.pool, id)
	}
	if err != nil {
		return err
	}
	if run.Status != runs.StatusPublished {
		return fmt.Errorf("batch run %d is %s: only published runs have a batch view", run.ID, run.Status)
	}
	file, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := parquetio.Export(ctx, c.view, run.ID, file)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export batch run %d to %s: %w", run.ID, path, err)
	}
	fmt.Fprintf(out, "exported %d rows of batch run %d to %s\n", n, run.ID, path)
	return nil
}
