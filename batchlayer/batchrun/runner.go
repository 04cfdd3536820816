package batchrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
)

// Defaults for the zero fields of Config.
const (
	DefaultRetention  = 3
	DefaultChunkRows  = 250_000
	DefaultParallel   = 2
	DefaultScoreBatch = inference.DefaultMaxBatch
	DefaultLockWait   = 5 * time.Second
)

// Fixed tuning.
const (
	// lockPoll is the pause between looks at the lock and the running run.
	lockPoll = 50 * time.Millisecond
	// bookkeepingTimeout bounds recording a run's end and dropping its view, which
	// happen even after the run's context ended.
	bookkeepingTimeout = 30 * time.Second
	// settleFirstWait and settleLastWait bound the pauses between attempts to record a
	// run's end while PostgreSQL is unavailable (doubling from the first to the last).
	settleFirstWait = 100 * time.Millisecond
	settleLastWait  = 2 * time.Second
)

// Config tunes a Runner; zero fields take the defaults above.
type Config struct {
	// Database is the ClickHouse database of events and batch_view.
	Database string
	// Retention is how many published runs keep their view (the newest ones).
	Retention int
	// ChunkRows is about how many events one chunk read holds: the run holds a
	// chunk's columns in memory, Parallel chunks at a time (roughly 60 bytes per
	// event for the demo events), and keeps that memory for its next chunks.
	ChunkRows int
	// Parallel is how many chunks are read, folded and written at once.
	Parallel int
	// ScoreBatch is how many rows one model call scores.
	ScoreBatch int
	// FlushRows is how many rows one batch_view insert holds (view.DefaultFlushRows).
	FlushRows int
	// LockWait bounds how long Trigger waits for a lock holder to show its run.
	LockWait time.Duration
	// Shards splits a run's entities into that many shards, each read, folded,
	// scored and written by its own worker (1 or less: one, without shard rows).
	Shards int
	// ExternalWorkers leaves the shards of a run to `lambda batch worker` processes
	// (Runner.Work); the run waits for them. Otherwise goroutines of this process
	// work them.
	ExternalWorkers bool
}

func (c Config) withDefaults() Config {
	if c.Retention <= 0 {
		c.Retention = DefaultRetention
	}
	if c.ChunkRows <= 0 {
		c.ChunkRows = DefaultChunkRows
	}
	if c.Parallel <= 0 {
		c.Parallel = DefaultParallel
	}
	if c.ScoreBatch <= 0 {
		c.ScoreBatch = DefaultScoreBatch
	}
	if c.LockWait <= 0 {
		c.LockWait = DefaultLockWait
	}
	c.Shards = max(c.Shards, 1)
	return c
}

// Model scores vectors; *inference.Model is one.
type Model interface {
	ScoreFlat(ctx context.Context, x []float32, width int) ([]float32, error)
	Width() int
	Meta() inference.Meta
}

// Models hands a run the active model and the feature spec its inputs follow. The
// model stays usable until fn returns.
type Models interface {
	UseActive(ctx context.Context, fn func(m Model, spec *features.Spec) error) error
}

// ModelsFunc adapts a function to Models.
type ModelsFunc func(ctx context.Context, fn func(m Model, spec *features.Spec) error) error

// UseActive calls f.
func (f ModelsFunc) UseActive(ctx context.Context, fn func(m Model, spec *features.Spec) error) error {
	return f(ctx, fn)
}

// Coverage reports, per partition of the event topic, the archiver's committed
// offset: every offset below it is in the master dataset (archiver.Coverage).
type Coverage interface {
	Coverage(ctx context.Context) (map[int]int64, error)
}

// CoverageFunc adapts a function to Coverage.
type CoverageFunc func(ctx context.Context) (map[int]int64, error)

// Coverage calls f.
func (f CoverageFunc) Coverage(ctx context.Context) (map[int]int64, error) { return f(ctx) }

// ClickHouse is what a Runner needs of a ClickHouse connection for the batch view
// (clickhouse-go's driver.Conn has it).
type ClickHouse interface {
	view.Conn
	view.Inserter
}

// Deps are what a Runner works with.
type Deps struct {
	Postgres   *pgxpool.Pool
	ClickHouse ClickHouse
	Events     *master.Dataset
	Coverage   Coverage
	Models     Models
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Runner triggers and executes batch runs. It is safe for concurrent use.
type Runner struct {
	deps    Deps
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	ctx    context.Context // runs execute under it; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	triggerMu sync.Mutex // one Trigger at a time in this process
	mu        sync.Mutex
	active    *execution // the run this process executes, nil when none
	closed    bool
}

// execution is a run executing in this process.
type execution struct {
	run      runs.Run
	done     chan struct{}
	progress progress
}

// progress counts what a run, or a shard of it, has done so far.
type progress struct {
	started     time.Time
	total       atomic.Int64
	eventsRead  atomic.Int64
	entities    atomic.Int64
	rowsWritten atomic.Int64
	run         *progress // a shard's counts are added to its run's too; nil for a run
}

// add counts events read, entities scored and rows written.
func (p *progress) add(events, entities, rows int64) {
	for ; p != nil; p = p.run {
		p.eventsRead.Add(events)
		p.entities.Add(entities)
		p.rowsWritten.Add(rows)
	}
}

// counts are p's counts as a run's.
func (p *progress) counts() runs.Counts {
	return runs.Counts{EventsRead: p.eventsRead.Load(), EntitiesScored: p.entities.Load(), RowsWritten: p.rowsWritten.Load()}
}

// Progress is a snapshot of the executing run.
type Progress struct {
	RunID   int64
	Started time.Time
	// TotalEvents is about how many events the run reads, 0 until it is known.
	TotalEvents    int64
	EventsRead     int64
	EntitiesScored int64
	RowsWritten    int64
}

// New returns a Runner and sets the staleness gauges from the served run.
func New(ctx context.Context, deps Deps, cfg Config) (*Runner, error) {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	r := &Runner{deps: deps, cfg: cfg.withDefaults(), log: deps.Log, metrics: newMetrics(deps.Registerer)}
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	served, err := runs.Published(ctx, deps.Postgres)
	switch {
	case err == nil:
		r.setServed(served)
	case !errors.Is(err, runs.ErrNoPublished):
		return nil, err
	}
	return r, nil
}

// Trigger starts a run unless one is running anywhere, in which case it returns that
// run and started=false. trigger is cron, rest or cli; requestedBy says who asked
// (a user, a host, "schedule"). The run executes in the background: see Wait and
// Progress.
func (r *Runner) Trigger(ctx context.Context, trigger, requestedBy string) (run runs.Run, started bool, err error) {
	if err := runs.ValidTrigger(trigger); err != nil {
		return runs.Run{}, false, err
	}
	r.triggerMu.Lock()
	defer r.triggerMu.Unlock()
	r.mu.Lock()
	closed, active := r.closed, r.active
	r.mu.Unlock()
	switch {
	case closed:
		return runs.Run{}, false, runs.ErrTriggerClosed
	case active != nil:
		return active.run, false, nil
	}

	lock, running, err := r.lockOrRunning(ctx)
	if err != nil || lock == nil {
		return running, false, err
	}
	abandoned, err := runs.AbandonRunning(ctx, r.deps.Postgres)
	if err != nil {
		lock.Release(ctx)
		return runs.Run{}, false, err
	}
	for _, id := range abandoned {
		r.log.Warn("batch run abandoned by its process; marked failed", "run", id)
		r.metrics.failures.WithLabelValues(reasonAbandoned).Inc()
		r.dropView(ctx, id)
	}
	run, err = runs.Start(ctx, r.deps.Postgres, trigger, requestedBy)
	if err != nil {
		lock.Release(ctx)
		return runs.Run{}, false, err
	}
	e := &execution{run: run, done: make(chan struct{})}
	e.progress.started = time.Now()
	r.mu.Lock()
	r.active = e
	r.mu.Unlock()
	r.wg.Add(1)
	go r.execute(lock, e)
	r.log.Info("batch run started", "run", run.ID, "trigger", trigger, "requested_by", requestedBy)
	return run, true, nil
}

// lockOrRunning takes the batch lock, or returns the run of whoever holds it.
func (r *Runner) lockOrRunning(ctx context.Context) (*runs.Lock, runs.Run, error) {
	deadline := time.Now().Add(r.cfg.LockWait)
	for {
		lock, ok, err := runs.TryLock(ctx, r.deps.Postgres)
		if err != nil || ok {
			return lock, runs.Run{}, err
		}
		running, err := runs.Running(ctx, r.deps.Postgres)
		if !errors.Is(err, runs.ErrNotFound) {
			return nil, running, err
		}
		if time.Now().After(deadline) {
			return nil, runs.Run{}, runs.ErrBusy
		}
		select {
		case <-ctx.Done():
			return nil, runs.Run{}, ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// Wait waits until run id, if this process executes it, has ended and returns its
// record.
func (r *Runner) Wait(ctx context.Context, id int64) (runs.Run, error) {
	r.mu.Lock()
	e := r.active
	r.mu.Unlock()
	if e != nil && e.run.ID == id {
		select {
		case <-e.done:
		case <-ctx.Done():
			return runs.Run{}, ctx.Err()
		}
	}
	return runs.Get(ctx, r.deps.Postgres, id)
}

// Progress returns the progress of the run this process executes; false when none.
func (r *Runner) Progress() (Progress, bool) {
	r.mu.Lock()
	e := r.active
	r.mu.Unlock()
	if e == nil {
		return Progress{}, false
	}
	p := &e.progress
	return Progress{
		RunID: e.run.ID, Started: p.started, TotalEvents: p.total.Load(),
		EventsRead: p.eventsRead.Load(), EntitiesScored: p.entities.Load(), RowsWritten: p.rowsWritten.Load(),
	}, true
}

// Close cancels the executing run, if any (it is marked failed), waits for it to
// end, and refuses new triggers.
func (r *Runner) Close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// setServed points the staleness gauges at the served run.
func (r *Runner) setServed(run runs.Run) {
	r.metrics.lastPublish.Set(float64(run.PublishedAt.UnixMicro()) / 1e6)
	if !run.CutoffEventTime.IsZero() {
		r.metrics.cutoffEvent.Set(float64(run.CutoffEventTime.UnixMicro()) / 1e6)
	}
}

// dropView drops the batch view partition of run id, logging a failure: retention
// drops leftovers later.
func (r *Runner) dropView(ctx context.Context, id int64) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if err := view.DropRun(ctx, r.deps.ClickHouse, r.cfg.Database, uint64(id)); err != nil {
		r.log.Error("drop batch view of run; retention will retry", "run", id, "err", err)
	}
}

// errorText is the error recorded for a failed run.
func errorText(err error) string {
	return fmt.Sprintf("%s: %v", failureReason(err), err)
}
