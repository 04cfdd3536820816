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
)

// Defaults for the zero fields of Config.
const (
	DefaultCacheEntries  = 1 << 20
	DefaultLookupTimeout = time.Second
	DefaultRunPoll       = 5 * time.Second
)

// Config tunes a Service; zero fields take the defaults above.
type Config struct {
	// CacheEntries bounds the batch rows (and absent entities) cached for the served run.
	CacheEntries int
	// LookupTimeout bounds one read of a view.
	LookupTimeout time.Duration
	// RunPoll is how often Run reads the published run when no notification arrives,
	// and how long it waits before listening again after the connection failed.
	RunPoll time.Duration
}

func (c Config) withDefaults() Config {
	if c.CacheEntries <= 0 {
		c.CacheEntries = DefaultCacheEntries
	}
	if c.LookupTimeout <= 0 {
		c.LookupTimeout = DefaultLookupTimeout
	}
	if c.RunPoll <= 0 {
		c.RunPoll = DefaultRunPoll
	}
	return c
}

// Service answers merged predictions. It is safe for concurrent use; Run keeps its
// served run current.
type Service struct {
	batch   BatchView
	speed   SpeedView
	runs    Runs
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	syncMu  sync.Mutex // one sync at a time
	served  atomic.Pointer[served]
	entries atomic.Int64 // cached entries of the served run
}

// served is the state of the published run as last read.
type served struct {
	cache *runCache // nil when no run is published
	err   error     // set while the run has never been read
}

// New returns a Service over the views. Until Run has read the published run, the
// batch view counts as unavailable.
func New(batch BatchView, speed SpeedView, runs Runs, cfg Config, log *slog.Logger, reg prometheus.Registerer) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Service{batch: batch, speed: speed, runs: runs, cfg: cfg.withDefaults(), log: log}
	s.metrics = newMetrics(reg, &s.entries)
	s.served.Store(&served{err: errors.New("batch view: the published run has not been read yet")})
	return s
}

// Run keeps the served run current until ctx ends: it reads the published run at once,
// at every publish notification and every Config.RunPoll.
func (s *Service) Run(ctx context.Context) {
	refresh.Loop(ctx, s.cfg.RunPoll,
		func(ctx context.Context, notify func()) error { return s.runs.ListenPublished(ctx, notify, notify) },
		func(ctx context.Context) {
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("read published batch run, serving the one known", "run", s.ServedRun().ID, "err", err)
			}
		},
		func(err error) {
			s.log.Warn("batch publish notifications lost, polling until the listener reconnects", "err", err, "retry_in", s.cfg.RunPoll)
		})
}

// Sync reads the published run and serves it; a new run starts an empty cache.
func (s *Service) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	run, ok, err := s.runs.Published(ctx)
	if err != nil {
		s.metrics.viewErrors.WithLabelValues("runs").Inc()
		if cur := s.served.Load(); cur.err != nil {
			s.served.Store(&served{err: fmt.Errorf("batch view: the published run cannot be read: %w", err)})
		}
		return err
	}
	cur := s.served.Load()
	switch {
	case !ok && cur.err == nil && cur.cache == nil:
		return nil
	case ok && cur.cache != nil && cur.cache.run.ID == run.ID:
		return nil
	}
	next := &served{}
	if ok {
		next.cache = newRunCache(run, s.cfg.CacheEntries, &s.entries)
	}
	s.served.Store(next)
	if cur.cache != nil {
		cur.cache.drop()
	}
	s.metrics.servedRun.Set(float64(run.ID))
	if ok {
		s.log.Info("serving batch run", "run", run.ID, "published_at", run.PublishedAt, "cutoff_event_time", run.CutoffEventTime)
	} else {
		s.log.Info("no batch run is published yet; answering from the speed view")
	}
	return nil
}

// ServedRun returns the published run served, zero when none is (or it is unknown).
func (s *Service) ServedRun() ServedRun {
	if c := s.served.Load().cache; c != nil {
		return c.run
	}
	return ServedRun{}
}

// Lookup answers for each of ids, in order. ids must not repeat.
func (s *Service) Lookup(ctx context.Context, ids []string) []Answer {
	answers := make([]Answer, len(ids))
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		answers[i].EntityID = id
		index[id] = i
	}

	// The batch view: from the cache, reading ClickHouse for the rest concurrently
	// with the speed view. batchErr applies to the entities not found in the cache.
	st := s.served.Load()
	var (
		misses   []string
		missed   = make([]bool, len(ids))
		batchErr = st.err
		done     = make(chan struct{})
	)
	if st.cache != nil {
		for i, id := range ids {
			row, ok := st.cache.get(id)
			if !ok {
				misses, missed[i] = append(misses, id), true
				continue
			}
			answers[i].Batch = row
		}
		s.metrics.cacheHits.Add(float64(len(ids) - len(misses)))
		s.metrics.cacheMisses.Add(float64(len(misses)))
	}
	if len(misses) == 0 {
		close(done)
	} else {
		go func() {
			defer close(done)
			rows, err := s.readBatch(ctx, st.cache, misses)
			if err != nil {
				batchErr = err
				return
			}
			for i := range rows {
				answers[index[rows[i].EntityID]].Batch = &rows[i]
			}
		}()
	}

	speedRows, speedErr := s.readSpeed(ctx, ids)
	for i := range speedRows {
		answers[index[speedRows[i].EntityID]].Speed = &speedRows[i]
	}
	<-done

	for i := range answers {
		a := &answers[i]
		a.SpeedErr = speedErr
		if st.err != nil || missed[i] {
			a.BatchErr = batchErr
		}
		if src, ok := Choose(a.Batch, a.Speed); ok {
			a.Source = src
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

// readBatch reads the rows of ids from the run of c and caches them, absent ones too.
func (s *Service) readBatch(ctx context.Context, c *runCache, ids []string) ([]BatchRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	start := time.Now()
	rows, err := s.batch.BatchRows(ctx, c.run.ID, ids)
	s.metrics.readDuration.WithLabelValues(string(Batch)).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.viewErrors.WithLabelValues(string(Batch)).Inc()
		return nil, fmt.Errorf("batch view (ClickHouse): %w", err)
	}
	found := make(map[string]bool, len(rows))
	for i := range rows {
		found[rows[i].EntityID] = true
		c.put(rows[i].EntityID, &rows[i])
	}
	for _, id := range ids {
		if !found[id] {
			c.put(id, nil)
		}
	}
	return rows, nil
}

func (s *Service) readSpeed(ctx context.Context, ids []string) ([]SpeedRow, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	start := time.Now()
	rows, err := s.speed.SpeedRows(ctx, ids)
	s.metrics.readDuration.WithLabelValues(string(Speed)).Observe(time.Since(start).Seconds())
	if err != nil {
		s.metrics.viewErrors.WithLabelValues(string(Speed)).Inc()
		return nil, fmt.Errorf("speed view (PostgreSQL): %w", err)
	}
	return rows, nil
}
