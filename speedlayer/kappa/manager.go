package kappa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/cost"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/refresh"
	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/speedlayer"
	"github.com/lambda-platform/lambda/speedlayer/speedview"
)

// Defaults for the zero fields of Config.
const (
	DefaultPoll          = 2 * time.Second
	DefaultProgressEvery = 250 * time.Millisecond
	DefaultDropGrace     = time.Minute
)

// GroupPrefix starts the consumer group of every replay's job.
const GroupPrefix = "lambda-kappa-"

// Config configures a Manager.
type Config struct {
	// Speed is the configuration of every job's consumer; its GroupID is replaced by
	// the replay's.
	Speed speedlayer.Config
	// Poll is how often the registry is read besides its notifications.
	Poll time.Duration
	// ProgressEvery is how often a job's progress is recorded.
	ProgressEvery time.Duration
	// DropGrace is how long after a replay ended its view is dropped.
	DropGrace time.Duration
}

// Manager runs the jobs of the replays of one registry; see the package doc.
type Manager struct {
	cfg    Config
	pool   *pgxpool.Pool
	models *registry.Registry
	scorer inference.Options // the replays' models: their runs are observed
	log    *slog.Logger
	m      *metrics

	mu   sync.Mutex
	jobs map[int64]*job
}

// New returns a manager of pool's replays, loading models from models, with its
// metrics on reg. Run starts it.
func New(cfg Config, pool *pgxpool.Pool, models *registry.Registry, reg prometheus.Registerer, log *slog.Logger) *Manager {
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = DefaultProgressEvery
	}
	if cfg.DropGrace <= 0 {
		cfg.DropGrace = DefaultDropGrace
	}
	return &Manager{cfg: cfg, pool: pool, models: models, scorer: inference.Options{Observer: inference.NewRunMetrics(reg)},
		log: log.With("component", "kappa"), m: newMetrics(reg), jobs: map[int64]*job{}}
}

// Run reconciles the jobs with the registry at start, at every notification and poll
// (refresh.Loop) until ctx ends, then stops every job.
func (mg *Manager) Run(ctx context.Context) error {
	defer mg.stopAll()
	refresh.Loop(ctx, mg.cfg.Poll,
		func(ctx context.Context, notify func()) error {
			return store.Listen(ctx, mg.pool, replays.ChangeChannel, notify, func(string) { notify() })
		},
		mg.reconcile,
		func(err error) {
			mg.log.Warn("kappa replay notifications lost, polling until the listener reconnects", "err", err, "retry_in", mg.cfg.Poll)
		})
	return nil
}

// reconcile starts the jobs of running replays, stops the others' and drops the
// views of replays ended DropGrace ago.
func (mg *Manager) reconcile(ctx context.Context) {
	pending, err := replays.Pending(ctx, mg.pool)
	if err != nil {
		if ctx.Err() == nil {
			mg.log.Warn("read kappa replays", "err", err)
		}
		return
	}
	running := map[int64]bool{}
	for _, r := range pending {
		switch {
		case r.Running():
			running[r.ID] = true
			mg.ensure(ctx, r)
		case time.Since(r.RetiredAt) >= mg.cfg.DropGrace:
			if err := replays.DropView(ctx, mg.pool, r.ID); err != nil && !errors.Is(err, replays.ErrState) {
				mg.log.Warn("drop kappa view", "replay", r.ID, "err", err)
			} else if err == nil {
				mg.log.Info("kappa view dropped", "replay", r.ID, "table", r.Table())
			}
		}
	}
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for id, j := range mg.jobs {
		if !running[id] {
			j.stop()
			delete(mg.jobs, id)
			mg.m.forget(id)
			mg.log.Info("kappa job stopped", "replay", id)
		}
	}
	mg.m.jobs.Set(float64(len(mg.jobs)))
}

// ensure starts r's job unless it runs; a job that ended on its own (its consumer
// failed) is started again.
func (mg *Manager) ensure(ctx context.Context, r replays.Replay) {
	mg.mu.Lock()
	j, ok := mg.jobs[r.ID]
	if ok && j.ended() {
		delete(mg.jobs, r.ID)
		ok = false
	}
	mg.mu.Unlock()
	if ok {
		return
	}
	j, err := mg.start(ctx, r)
	if err != nil {
		mg.log.Error("kappa job cannot start", "replay", r.ID, "err", err)
		if err := replays.Fail(ctx, mg.pool, r.ID, err); err != nil {
			mg.log.Warn("fail kappa replay", "replay", r.ID, "err", err)
		}
		return
	}
	mg.mu.Lock()
	mg.jobs[r.ID] = j
	mg.mu.Unlock()
	mg.log.Info("kappa job started", "replay", r.ID, "status", r.Status, "model", r.ModelName, "version", r.ModelVersion, "group", j.group)
}

func (mg *Manager) stopAll() {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for id, j := range mg.jobs {
		j.stop()
		delete(mg.jobs, id)
	}
}

// job is one replay's consumer and progress loop.
type job struct {
	group  string
	cancel context.CancelFunc
	done   chan struct{}
}

func (j *job) stop() {
	j.cancel()
	<-j.done
}

// ended reports whether the job's goroutines are all done.
func (j *job) ended() bool {
	select {
	case <-j.done:
		return true
	default:
		return false
	}
}

// start builds r's consumer — its spec, its model, its view — and runs it.
func (mg *Manager) start(parent context.Context, r replays.Replay) (*job, error) {
	spec := features.DefaultSpec()
	if r.Spec != "" {
		var err error
		if spec, err = features.ParseSpec([]byte(r.Spec)); err != nil {
			return nil, fmt.Errorf("feature spec: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	holder := inference.NewHolder(mg.log)
	follow, err := mg.model(ctx, r, holder)
	if err != nil {
		cancel()
		_ = holder.Close()
		return nil, err
	}
	cfg := mg.cfg.Speed
	cfg.GroupID = GroupPrefix + strconv.FormatInt(r.ID, 10)
	jobReg := prometheus.NewRegistry() // the consumer's own metrics, read for the replay's cost
	consumer, err := speedlayer.New(cfg, spec, speedlayer.Deps{
		Runs:   runs.None{},
		Bases:  noBases{},
		View:   speedview.NewTable(mg.pool, r.Table()),
		Scorer: speedlayer.HolderScorer{Holder: holder},
	}, jobReg, mg.log.With("replay", r.ID))
	if err != nil {
		cancel()
		_ = holder.Close()
		return nil, err
	}
	j := &job{group: cfg.GroupID, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		err := consumer.Run(ctx)
		if ctx.Err() == nil { // ended on its own: end the job, which the next reconcile starts again
			mg.log.Error("kappa job ended, starting it again at the next poll", "replay", r.ID, "err", err)
			cancel()
		}
	}()
	go func() {
		defer wg.Done()
		mg.track(ctx, r.ID, cfg, cost.Start(), jobReg)
	}()
	if follow != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			follow.Run(ctx)
		}()
	}
	go func() {
		wg.Wait()
		_ = holder.Close()
		close(j.done)
	}()
	return j, nil
}

// model loads r's model into holder: its version, or the active one, followed by the
// returned watcher.
func (mg *Manager) model(ctx context.Context, r replays.Replay, holder *inference.Holder) (*registry.Watcher, error) {
	if r.ModelVersion == 0 {
		w := registry.NewWatcher(mg.models, r.ModelName, holder, registry.WatcherOptions{Model: mg.scorer, Logger: mg.log})
		if _, err := w.Sync(ctx); err != nil && !errors.Is(err, registry.ErrNoActive) && !errors.Is(err, registry.ErrNotFound) {
			return nil, fmt.Errorf("model %s: %w", r.ModelName, err)
		}
		return w, nil
	}
	v, err := mg.models.Version(ctx, r.ModelName, r.ModelVersion)
	if err != nil {
		return nil, fmt.Errorf("model %s@%d: %w", r.ModelName, r.ModelVersion, err)
	}
	m, err := mg.models.Load(ctx, v, registry.FP32, mg.scorer)
	if err != nil {
		return nil, err
	}
	return nil, holder.Swap(m)
}

// track records the job's progress every ProgressEvery until it has caught up, every
// Poll after, until ctx ends, and marks the replay ready once its group has committed
// the whole log, with its cost: the meter's
// since the job started and the consumer's counts in jobReg.
func (mg *Manager) track(ctx context.Context, id int64, cfg speedlayer.Config, meter *cost.Meter, jobReg prometheus.Gatherer) {
	defer meter.Stop()
	label := strconv.FormatInt(id, 10)
	tick := time.NewTicker(mg.cfg.ProgressEvery)
	defer tick.Stop()
	var (
		lastDone int64 = -1
		lastAt   time.Time
		ready    bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		covered, done, total, err := progress(ctx, cfg)
		if err != nil {
			if ctx.Err() == nil {
				mg.log.Debug("kappa progress", "replay", id, "err", err)
			}
			continue
		}
		now := time.Now()
		rate := 0.0
		if lastDone >= 0 {
			rate = float64(done-lastDone) / now.Sub(lastAt).Seconds()
		}
		lastDone, lastAt = done, now
		mg.m.offsets.WithLabelValues(label, "done").Set(float64(done))
		mg.m.offsets.WithLabelValues(label, "total").Set(float64(total))
		mg.m.rate.WithLabelValues(label).Set(rate)
		if rate > 0 && !ready {
			mg.m.eta.WithLabelValues(label).Set(float64(total-done) / rate)
		}
		if err := replays.Progress(ctx, mg.pool, id, covered, done, total, rate); err != nil && ctx.Err() == nil {
			mg.log.Warn("record kappa progress", "replay", id, "err", err)
		}
		if !ready && done >= total {
			c := meter.Read()
			r, err := replays.MarkReady(ctx, mg.pool, id, replays.Cost{CPUSeconds: c.CPUSeconds, PeakHeapBytes: c.PeakHeapBytes,
				BytesRead: counter(jobReg, "lambda_speed_fetched_bytes_total"), EventsRead: counter(jobReg, "lambda_speed_events_total"),
				RowsWritten: counter(jobReg, "lambda_speed_rows_upserted_total")})
			if err != nil {
				mg.log.Warn("mark kappa replay ready", "replay", id, "err", err)
				continue
			}
			ready = true
			tick.Reset(mg.cfg.Poll) // caught up: its position matters to readers, not to the second
			mg.m.eta.WithLabelValues(label).Set(0)
			mg.log.Info("kappa replay caught up with the log", "replay", id, "offsets", total, "status", r.Status)
		}
	}
}

// progress returns, per partition, the last offset cfg's group has committed (-1:
// none), the offsets it has committed in all and those in the log.
func progress(ctx context.Context, cfg speedlayer.Config) (covered []int64, done, total int64, err error) {
	ends, err := kafka.EndOffsets(ctx, cfg.Brokers, cfg.Topic)
	if err != nil {
		return nil, 0, 0, err
	}
	committed, err := kafka.Committed(ctx, cfg.Brokers, cfg.GroupID, cfg.Topic)
	if err != nil {
		return nil, 0, 0, err
	}
	covered = make([]int64, len(ends))
	for p, end := range ends {
		total += end
		done += min(end, max(0, committed[p]))
		covered[p] = min(end, max(0, committed[p])) - 1
	}
	return covered, done, total, nil
}

// counter is the value of the counter name in g, 0 when it has none.
func counter(g prometheus.Gatherer, name string) int64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return int64(mf.Metric[0].GetCounter().GetValue())
		}
	}
	return 0
}

// noBases is the batch view of no run; a job never asks it.
type noBases struct{}

func (noBases) States(context.Context, int64, []string) (map[string][]byte, error) {
	return nil, errors.New("a kappa job has no batch run")
}

type metrics struct {
	offsets *prometheus.GaugeVec
	rate    *prometheus.GaugeVec
	eta     *prometheus.GaugeVec
	jobs    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		offsets: f.NewGaugeVec(prometheus.GaugeOpts{Name: "lambda_kappa_replay_offsets",
			Help: "A replay's offsets: kind=done, committed by its job; kind=total, in the log."}, []string{"replay", "kind"}),
		rate: f.NewGaugeVec(prometheus.GaugeOpts{Name: "lambda_kappa_replay_events_per_second",
			Help: "Offsets a replay's job committed per second over the last interval."}, []string{"replay"}),
		eta: f.NewGaugeVec(prometheus.GaugeOpts{Name: "lambda_kappa_replay_eta_seconds",
			Help: "Seconds until a replaying job catches up with the log, at its current rate."}, []string{"replay"}),
		jobs: f.NewGauge(prometheus.GaugeOpts{Name: "lambda_kappa_jobs", Help: "Replay jobs running in this process."}),
	}
}

// forget drops replay id's series.
func (m *metrics) forget(id int64) {
	label := strconv.FormatInt(id, 10)
	m.offsets.DeleteLabelValues(label, "done")
	m.offsets.DeleteLabelValues(label, "total")
	m.rate.DeleteLabelValues(label)
	m.eta.DeleteLabelValues(label)
}
