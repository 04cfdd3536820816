package speedlayer

import (
	"context"
	"strconv"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/lambda-platform/lambda/internal/cost"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// session is one generation of the group: the partitions assigned in it, their
// deltas, fetchers and rebuilds. Only the loop goroutine touches its fields.
type session struct {
	*Consumer
	gen     *kafkago.Generation
	records chan record  // from the partition fetchers
	rebuilt chan rebuilt // from the rebuild jobs
	wg      sync.WaitGroup

	run   runs.Run
	parts map[int]*part
	// prebuilding is the run in progress whose deltas are prebuilt (0: none).
	prebuilding int64
	// model is the model of the last scoring call; when a call returns another one,
	// every delta is written again so that all rows move to it.
	model    Model
	modelSet bool
	rescore  bool
	// writing receives the outcome of the micro-batch being written and committed
	// while the next one is folded; nil when none is.
	writing chan error
}

// part is one assigned partition.
type part struct {
	id int
	// live is the delta the fetched records are applied to; nil until the first
	// rebuild is installed, which starts the fetcher.
	live *delta.Partition
	// assigned is the last offset the group had committed at assignment (-1: none):
	// the first rebuild replays up to it.
	assigned int64
	// job is the rebuild in flight, pending the records applied to live meanwhile,
	// which the rebuilt delta applies too before it replaces live (or, prebuilt,
	// becomes next).
	job     *job
	pending []delta.Record
	fails   int
	// next is the delta prebuilt under the batch run in progress (nil: none): the
	// records go to it too, and it replaces live when that run is published.
	next *delta.Partition
	// pruneAt is when to delete the rows live's run dominates (zero: done).
	pruneAt time.Time
}

type job struct {
	ctx      context.Context
	cancel   context.CancelFunc
	kind     string
	run      int64 // the batch run the delta is rebuilt under
	started  time.Time
	catchUps int // times its delta was handed back to apply taken records (catchUp)
}

type rebuilt struct {
	part int
	job  *job
	d    *delta.Partition
	err  error
}

// item is an entity to write a row for, with its delta.
type item struct {
	d *delta.Partition
	e *delta.Entity
}

func newSession(c *Consumer, gen *kafkago.Generation) *session {
	return &session{
		Consumer: c,
		gen:      gen,
		records:  make(chan record, c.cfg.MaxBatch),
		rebuilt:  make(chan rebuilt),
		parts:    map[int]*part{},
	}
}

// consume runs until parent or the generation ends. Writes run under ioCtx, which
// ends with the generation (the partitions may be someone else's by then) or
// ShutdownTimeout after parent, so a shutdown writes and commits what it holds.
func (s *session) consume(parent, genCtx context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer context.AfterFunc(genCtx, cancel)()
	ioCtx, cancelIO := context.WithCancel(context.WithoutCancel(parent))
	defer cancelIO()
	defer context.AfterFunc(genCtx, cancelIO)()
	defer context.AfterFunc(parent, func() { time.AfterFunc(s.cfg.ShutdownTimeout, cancelIO) })()

	defer s.end(cancel)
	err := s.retry(ctx, stageRun, func() (err error) {
		s.run, _, err = s.deps.Runs.Published(ctx)
		return err
	})
	if err != nil {
		return
	}
	s.m.baseRun.Set(float64(s.run.ID))
	for _, a := range s.gen.Assignments[s.cfg.Topic] {
		pt := &part{id: a.ID, assigned: -1}
		if a.Offset >= 0 {
			pt.assigned = a.Offset - 1
		}
		s.parts[a.ID] = pt
		s.startJob(ctx, pt, 0)
	}
	s.loop(ctx, ioCtx)
}

// end stops the fetchers and rebuilds, waits for the writer and counts the records
// left unprocessed.
func (s *session) end(cancel context.CancelFunc) {
	cancel()
	_ = s.settle()
	s.wg.Wait()
	s.m.unflushed.Add(float64(len(s.records)))
	for p := range s.parts {
		s.m.lag.DeleteLabelValues(strconv.Itoa(p))
	}
}

// loop collects micro-batches, by size or deadline, and processes them; between
// batches it installs finished rebuilds and checks for a newly published run.
func (s *session) loop(ctx, ioCtx context.Context) {
	var batch []record
	deadline := time.NewTimer(time.Hour)
	deadline.Stop()
	poll := time.NewTicker(s.cfg.RunPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			if s.flush(ioCtx, batch) {
				_ = s.settle()
			}
			return
		case r := <-s.records:
			batch = append(batch, r)
			if len(batch) == 1 {
				// The first message has waited since it was fetched, for example while
				// the batch before was processed: what is queued then goes at once.
				if wait := s.cfg.MaxWait - time.Since(r.fetched); wait > 0 {
					deadline.Reset(wait)
					continue
				}
				batch = s.drain(batch)
			} else if len(batch) < s.cfg.MaxBatch {
				continue
			}
		case <-deadline.C:
		case res := <-s.rebuilt:
			if !s.flush(ioCtx, batch) || !s.install(ctx, ioCtx, res) {
				return
			}
			batch = batch[:0]
			continue
		case <-poll.C:
			s.checkRun(ctx)
			s.prune(ctx)
			if s.checkModel() {
				if !s.flush(ioCtx, batch) {
					return
				}
				batch = batch[:0]
			}
			continue
		}
		deadline.Stop()
		if !s.flush(ioCtx, batch) {
			return
		}
		batch = batch[:0]
	}
}

// drain adds the records already fetched to batch, up to MaxBatch.
func (s *session) drain(batch []record) []record {
	for len(batch) < s.cfg.MaxBatch {
		select {
		case r := <-s.records:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// flush prepares batch and hands it to the writer once the batch before it is
// committed, so that folding one batch overlaps writing the other; then, if the
// model changed, it writes every delta again. It reports false when ctx ended
// first (what was not committed is counted).
func (s *session) flush(ctx context.Context, batch []record) bool {
	if len(batch) > 0 {
		var p *prepared
		var err error
		s.metered(func() { p, err = s.prepare(ctx, batch) })
		if err != nil {
			s.m.unflushed.Add(float64(len(batch)))
			s.log.Info("micro-batch not committed", "messages", len(batch), "err", err)
			return false
		}
		if s.settle() != nil {
			s.m.unflushed.Add(float64(len(batch)))
			return false
		}
		done := make(chan error, 1)
		s.writing = done
		go func() {
			var err error
			s.metered(func() { err = s.write(ctx, p) })
			done <- err
		}()
	}
	if !s.rescore {
		return true
	}
	if s.settle() != nil {
		return false
	}
	for s.rescore {
		s.rescore = false
		s.log.Info("model changed, rescoring every delta", "model", s.model.Name, "version", s.model.Version)
		for _, pt := range s.parts {
			if pt.live == nil {
				continue
			}
			var err error
			s.metered(func() { err = s.writeAll(ctx, pt.live) })
			if err != nil {
				return false
			}
		}
	}
	return true
}

// metered runs f and counts the CPU time its thread spent in the speed layer's
// CPU seconds.
func (s *session) metered(f func()) {
	s.m.cpu.Add(cost.OnThread(f))
}

// settle waits for the micro-batch being written, if any, and returns its error.
func (s *session) settle() error {
	if s.writing == nil {
		return nil
	}
	err := <-s.writing
	s.writing = nil
	return err
}

// checkModel reports whether the scorer's model is another than the one the rows were
// last scored with, and if so marks every delta for rescoring (flush does it): a model
// activated while no event arrives still reaches every row within a RunPoll.
func (s *session) checkModel() bool {
	m := s.deps.Scorer.Current()
	if m == (Model{}) || s.modelSet && m == s.model {
		return false
	}
	// Recorded now, so that the rescoring names it and its own scoring, with m, does
	// not count as another change (nor does the next poll when no partition is live).
	s.rescore, s.model, s.modelSet = true, m, true
	return true
}

// prune deletes, in the partitions whose PruneDelay has passed since their last
// rebuild, the rows the live delta's run dominates: based on another run and
// covering nothing after its cutoff. A failure is retried at the next poll.
func (s *session) prune(ctx context.Context) {
	now := time.Now()
	for _, pt := range s.parts {
		if pt.pruneAt.IsZero() || now.Before(pt.pruneAt) {
			continue
		}
		run := pt.live.Run()
		n, err := s.deps.View.DeleteDominated(ctx, pt.id, run.ID, run.Cutoff)
		if err != nil {
			if ctx.Err() == nil {
				s.m.errors.WithLabelValues(stageUpsert).Inc()
				s.log.Warn("delete dominated speed rows", "partition", pt.id, "err", err)
			}
			continue
		}
		pt.pruneAt = time.Time{}
		s.log.Info("dominated speed rows deleted", "partition", pt.id, "run", run.ID, "cutoff", run.Cutoff, "rows", n)
	}
}

// checkRun starts a rebuild of every partition when another batch run is published
// and prebuilds the deltas of the run in progress, if any.
func (s *session) checkRun(ctx context.Context) {
	// The run in progress first: one published between the two reads is then seen
	// published, and its prebuilt deltas are installed.
	next, ok, err := s.deps.Runs.Running(ctx)
	var run runs.Run
	if err == nil {
		run, _, err = s.deps.Runs.Published(ctx)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.m.errors.WithLabelValues(stageRun).Inc()
			s.log.Warn("read batch runs", "err", err)
		}
		return
	}
	if run.ID != s.run.ID {
		s.log.Info("batch run published, rebuilding deltas", "run", run.ID, "previous", s.run.ID, "cutoff", run.CutoffOffsets)
		s.run = run
		s.m.baseRun.Set(float64(run.ID))
		for _, pt := range s.parts {
			s.startJob(ctx, pt, 0)
		}
	}
	if !ok || next.ID <= s.run.ID {
		next = runs.Run{}
	}
	s.prebuild(ctx, next)
}

// prebuild drops the deltas prebuilt, or being prebuilt, for a run other than next
// (it failed, or was published and installed) and starts prebuilding next's in the
// live partitions with no job in flight; next.ID 0 means no run is in progress.
func (s *session) prebuild(ctx context.Context, next runs.Run) {
	if next.ID != s.prebuilding && next.ID != 0 {
		s.log.Info("batch run in progress, prebuilding deltas", "run", next.ID, "published", s.run.ID, "cutoff", next.CutoffOffsets)
	}
	s.prebuilding = next.ID
	for _, pt := range s.parts {
		if pt.next != nil && pt.next.Run().ID != next.ID {
			pt.next = nil
		}
		if j := pt.job; j != nil && j.kind == rebuildPrebuild && j.run != next.ID {
			j.cancel()
			pt.job, pt.pending = nil, nil
		}
		if next.ID != 0 && pt.live != nil && pt.job == nil && pt.next == nil {
			s.startPrebuild(ctx, pt, next)
		}
	}
}
