package predict

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/internal/refresh"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/servinglayer/batchstore"
)

// Defaults for the zero fields of Config.
const (
	DefaultLookupTimeout   = time.Second
	DefaultRunPoll         = 5 * time.Second
	DefaultSpeedCacheBytes = 128 << 20
)

// Config tunes a Service; zero fields take the defaults above.
type Config struct {
	// LookupTimeout bounds one read of the speed view, and of the published run.
	LookupTimeout time.Duration
	// RunPoll is how often Run reads the published run when no notification arrives,
	// how long it waits before listening again after the connection failed, and
	// before loading again after a load failed, or listening again for speed view
	// changes after the connection failed.
	RunPoll time.Duration
	// SpeedCacheBytes bounds the speed rows cached until they change.
	SpeedCacheBytes int
}

func (c Config) withDefaults() Config {
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = DefaultLookupTimeout
	}
	if c.RunPoll <= 0 {
		c.RunPoll = DefaultRunPoll
	}
	if c.SpeedCacheBytes <= 0 {
		c.SpeedCacheBytes = DefaultSpeedCacheBytes
	}
	return c
}

// Service answers merged predictions. It is safe for concurrent use; Run keeps its
// served run current.
type Service struct {
	batch   BatchSource
	speed   SpeedView
	runs    Runs
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	syncMu     sync.Mutex // one sync at a time
	served     atomic.Pointer[served]
	speedCache *speedCache
	speedReads *coalescer // the cache's misses, read together

	kappa     KappaViews
	liveKappa atomic.Pointer[replayView] // the live replay; nil: none
	// released is the replay released last and releasedUntil (unix ns) the end of its
	// grace period, during which it answers where it covers more than the Lambda views.
	released      atomic.Pointer[replayView]
	releasedUntil atomic.Int64
}

// replayView is a replay's view as readers know it: its id and, per partition, the
// last offset it covers.
type replayView struct {
	id      int64
	covered []int64
}

// releaseGrace is how long a released replay still answers where it covers more than
// the Lambda views: time for the speed layer to pass where the replay's job was.
const releaseGrace = 30 * time.Second

// served is the batch view being served.
type served struct {
	store *batchstore.Store // nil when no run is published
	err   error             // set until the published run is first read and loaded
}

// New returns a Service over the views. Until Sync has read the published run and
// loaded its batch view, the batch view counts as unavailable.
func New(batch BatchSource, speed SpeedView, runs Runs, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Service{batch: batch, speed: speed, runs: runs, cfg: cfg.withDefaults(), log: log}
	s.served.Store(&served{err: errors.New("batch view: the published run has not been read yet")})
	s.speedCache = newSpeedCache(s.cfg.SpeedCacheBytes)
	s.speedReads = newCoalescer(speed.SpeedRows, s.cfg.LookupTimeout)
	s.metrics = newMetrics(reg, s.servedStore, &s.speedCache.bytes)
	return s
}

// WithKappa makes s answer from the live Kappa replay's view, if any, read from k
// (see preferKappa). Call it before Run.
func (s *Service) WithKappa(k KappaViews) *Service {
	s.kappa = k
	return s
}

// Run keeps the served run current until ctx ends: it reads the published run at once,
// at every publish notification and every Config.RunPoll, and loads its view. Meanwhile
// it listens for speed view changes, which keeps the speed cache in use.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { s.listenSpeed(ctx) })
	if s.kappa != nil {
		wg.Go(func() { s.trackKappa(ctx) })
	}
	refresh.Loop(ctx, s.cfg.RunPoll,
		func(ctx context.Context, notify func()) error { return s.runs.ListenPublished(ctx, notify, notify) },
		func(ctx context.Context) {
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("published batch run not loaded, retrying", "serving_run", s.ServedRun().ID, "retry_in", s.cfg.RunPoll, "err", err)
			}
		},
		func(err error) {
			s.log.Warn("batch publish notifications lost, polling until the listener reconnects", "err", err, "retry_in", s.cfg.RunPoll)
		})
}

// Sync reads the published run and, if it is another than the one served, loads its
// batch view and then serves it. Answers come from the run served before until the
// load is complete; a failed load leaves it served.
func (s *Service) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	readCtx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	run, ok, err := s.runs.Published(readCtx)
	cancel()
	if err != nil {
		s.metrics.viewErrors.WithLabelValues("runs").Inc()
		s.failFirst(fmt.Errorf("batch view: the published run cannot be read: %w", err))
		return err
	}
	cur := s.served.Load()
	switch {
	case !ok && cur.err == nil && cur.store == nil:
		return nil
	case ok && cur.store != nil && cur.store.Run().ID == run.ID:
		return nil
	case !ok:
		s.served.Store(&served{})
		s.metrics.servedRun.Set(0)
		s.log.Info("no batch run is published yet; answering from the speed view")
		return nil
	}

	s.failFirst(fmt.Errorf("batch view: run %d is loading", run.ID))
	start := time.Now()
	store, err := batchstore.Load(ctx, s.batch, run)
	took := time.Since(start)
	if err != nil {
		s.metrics.loads.WithLabelValues("error").Inc()
		s.metrics.viewErrors.WithLabelValues(string(Batch)).Inc()
		s.failFirst(fmt.Errorf("batch view: run %d cannot be loaded: %w", run.ID, err))
		return err
	}
	s.served.Store(&served{store: store})
	s.metrics.loads.WithLabelValues("ok").Inc()
	s.metrics.loadDuration.Observe(took.Seconds())
	s.metrics.servedRun.Set(float64(run.ID))
	s.log.Info("serving batch run", "run", run.ID, "published_at", run.PublishedAt, "cutoff_event_time", run.CutoffEventTime,
		"entities", store.Len(), "bytes", store.Bytes(), "load_seconds", took.Seconds())
	return nil
}

// trackKappa keeps the live replay current until ctx ends: at start, at every change
// of a replay and every RunPoll.
func (s *Service) trackKappa(ctx context.Context) {
	refresh.Loop(ctx, s.cfg.RunPoll,
		func(ctx context.Context, notify func()) error { return s.kappa.ListenReplays(ctx, notify, notify) },
		func(ctx context.Context) {
			readCtx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
			id, covered, err := s.kappa.Live(readCtx)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					s.metrics.viewErrors.WithLabelValues(string(Kappa)).Inc()
					s.log.Warn("live kappa replay not read, retrying", "err", err)
				}
				return
			}
			var live *replayView
			if id != 0 {
				live = &replayView{id: id, covered: covered}
			}
			if prev := s.liveKappa.Swap(live); prev.ID() != id {
				if prev != nil {
					s.released.Store(prev)
					s.releasedUntil.Store(time.Now().Add(releaseGrace).UnixNano())
				}
				s.log.Info("readers switched", "kappa_replay", id, "previous", prev.ID())
			}
		},
		func(err error) {
			s.log.Warn("kappa replay notifications lost, polling until the listener reconnects", "err", err, "retry_in", s.cfg.RunPoll)
		})
}

// LiveKappa is the live replay readers answer from, 0 when none is.
func (s *Service) LiveKappa() int64 { return s.liveKappa.Load().ID() }

// ID is the replay's id, 0 for none.
func (v *replayView) ID() int64 {
	if v == nil {
		return 0
	}
	return v.id
}

// listenSpeed keeps the speed cache in use while speed view changes are announced, and
// out of use (every lookup reads PostgreSQL) while they cannot be, until ctx ends.
func (s *Service) listenSpeed(ctx context.Context) {
	for {
		err := s.speed.ListenChanges(ctx, func() { s.speedCache.listening(true) }, s.speedCache.forget)
		s.speedCache.listening(false)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("speed view change notifications lost, reading every speed row from PostgreSQL until they are back",
			"err", err, "retry_in", s.cfg.RunPoll)
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.RunPoll):
		}
	}
}

// failFirst records why the batch view is unavailable, while no view was ever loaded.
func (s *Service) failFirst(err error) {
	if cur := s.served.Load(); cur.err != nil {
		s.served.Store(&served{err: err})
	}
}

// Ready returns nil once the published run has been read and its batch view loaded
// (or no run is published), and why not before.
func (s *Service) Ready() error { return s.served.Load().err }

// servedStore is the store served, nil when none is.
func (s *Service) servedStore() *batchstore.Store { return s.served.Load().store }

// ServedRun returns the published run served, zero when none is (or it is unknown).
func (s *Service) ServedRun() runs.Run {
	if st := s.servedStore(); st != nil {
		return st.Run()
	}
	return runs.Run{}
}

// Lookup answers for each of ids, in order. ids must not repeat.
func (s *Service) Lookup(ctx context.Context, ids []string) []Answer {
	answers := make([]Answer, len(ids))
	st := s.served.Load()
	for i, id := range ids {
		answers[i].EntityID = id
		if st.store == nil {
			continue
		}
		if row, ok := st.store.Get(id); ok {
			answers[i].Batch = &row
		}
	}

	speedRows, speedErr := s.speedRows(ctx, ids)
	if len(speedRows) > 0 {
		answer := byID(answers)
		for i := range speedRows {
			answer(speedRows[i].EntityID).Speed = &speedRows[i]
		}
	}

	for i := range answers {
		a := &answers[i]
		a.SpeedErr, a.BatchErr = speedErr, st.err
		a.Source, _ = Choose(a.Batch, a.Speed)
	}
	if live := s.liveKappa.Load(); live != nil {
		s.addKappa(ctx, live, false, ids, answers)
	} else if released := s.released.Load(); released != nil && time.Now().UnixNano() < s.releasedUntil.Load() {
		s.addKappa(ctx, released, true, ids, answers)
	}
	for i := range answers {
		a := &answers[i]
		if a.Source != "" {
			continue
		}
		if reason, degraded := a.Degraded(); degraded {
			a.Err = fmt.Errorf("%w: %s", ErrUnavailable, reason)
		} else {
			a.Err = ErrNotFound
		}
	}
	return answers
}

// addKappa reads the rows of ids from the view of replay live and lets them answer
// where preferKappa(strict) says so; when the view cannot be read the Lambda answers
// stand, degraded. A live replay's row covers at least what the view covers of its
// partition — the job has folded every event up to there, whenever it last wrote the
// row — so after a switch it answers quiet entities too. A released replay's rows count
// with their own offset: they answer only where they hold events the Lambda views do
// not have yet.
func (s *Service) addKappa(ctx context.Context, live *replayView, strict bool, ids []string, answers []Answer) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	start := time.Now()
	rows, err := s.kappa.KappaRows(ctx, live.id, ids)
	s.metrics.readDuration.WithLabelValues(string(Kappa)).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.viewErrors.WithLabelValues(string(Kappa)).Inc()
		err = fmt.Errorf("kappa view of replay %d (PostgreSQL): %w", live.id, err)
		for i := range answers {
			answers[i].KappaErr = err
		}
		return
	}
	answer := byID(answers)
	for i := range rows {
		r := &rows[i]
		if p := int(r.Partition); !strict && p < len(live.covered) {
			r.Offset = max(r.Offset, live.covered[p])
		}
		a := answer(r.EntityID)
		a.Kappa, a.KappaReplay = r, live.id
		if preferKappa(a, a.Kappa, strict) {
			a.Source = Kappa
		}
	}
}

// byID returns the finder of answers' answer for an entity id (one of theirs).
func byID(answers []Answer) func(id string) *Answer {
	if len(answers) == 1 { // the common lookup: no map to build
		return func(string) *Answer { return &answers[0] }
	}
	index := make(map[string]int, len(answers))
	for i := range answers {
		index[answers[i].EntityID] = i
	}
	return func(id string) *Answer { return &answers[index[id]] }
}

// speedRows returns the speed rows of those of ids the speed view holds, from the speed
// cache where it knows them, reading the others from PostgreSQL.
func (s *Service) speedRows(ctx context.Context, ids []string) ([]SpeedRow, error) {
	var (
		rows    []SpeedRow
		missing = ids
	)
	if s.speedCache.live.Load() {
		missing = nil
		for _, id := range ids {
			r, ok := s.speedCache.get(id)
			switch {
			case !ok:
				missing = append(missing, id)
			case r != nil:
				rows = append(rows, *r)
			}
		}
	}
	s.metrics.speedHits.Add(float64(len(ids) - len(missing)))
	s.metrics.speedMisses.Add(float64(len(missing)))
	if len(missing) == 0 {
		return rows, nil
	}
	seq := s.speedCache.seq.Load()
	read, err := s.readSpeed(ctx, missing)
	if err != nil {
		return nil, err
	}
	s.speedCache.put(seq, missing, read)
	return append(rows, read...), nil
}

func (s *Service) readSpeed(ctx context.Context, ids []string) ([]SpeedRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	start := time.Now()
	rows, err := s.speedReads.rows(ctx, ids)
	s.metrics.readDuration.WithLabelValues(string(Speed)).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.viewErrors.WithLabelValues(string(Speed)).Inc()
		return nil, fmt.Errorf("speed view (PostgreSQL): %w", err)
	}
	return rows, nil
}
