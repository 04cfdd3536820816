package speedlayer

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/lambda-platform/lambda/internal/backoff"
	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// startJob starts rebuilding pt's delta under the session's run, replacing any
// job in flight, after delay. A delta prebuilt under that run while it ran
// (startPrebuild) needs only its bases; otherwise the job replays the log up to the
// last offset processed when pt is live (a rebase), or up to the offset committed
// at assignment.
func (s *session) startJob(ctx context.Context, pt *part, delay time.Duration) {
	run, p := s.run, pt.id
	kind, target := rebuildAssign, pt.assigned
	if pt.live != nil {
		kind, target = rebuildRebase, pt.live.Pos()
	}
	work := func(ctx context.Context) (*delta.Partition, error) {
		d, err := s.rebuild(ctx, p, run, target)
		if err != nil {
			return nil, err
		}
		return s.withBases(ctx, d)
	}
	if d := pt.next; d != nil && d.Run().Equal(runOf(run, p)) {
		kind = rebuildPrebuilt
		work = func(ctx context.Context) (*delta.Partition, error) { return s.withBases(ctx, d) }
	}
	pt.next = nil
	s.launch(ctx, pt, &job{kind: kind, run: run.ID}, delay, work)
}

// startPrebuild starts building pt's delta under run, in progress, from the log up
// to the last offset processed; once it is ready, the micro-batches fold into it
// too (part.next), and when run publishes, startJob installs it without a replay.
// Bases are attached only then: the run's batch view is not complete before.
func (s *session) startPrebuild(ctx context.Context, pt *part, run runs.Run) {
	p, target := pt.id, pt.live.Pos()
	s.launch(ctx, pt, &job{kind: rebuildPrebuild, run: run.ID}, 0, func(ctx context.Context) (*delta.Partition, error) {
		return s.rebuild(ctx, p, run, target)
	})
}

// launch runs work as pt's job j after delay, replacing any job in flight; the
// records pt takes meanwhile are kept in pt.pending.
func (s *session) launch(ctx context.Context, pt *part, j *job, delay time.Duration, work func(context.Context) (*delta.Partition, error)) {
	if pt.job != nil {
		pt.job.cancel()
	}
	var jctx context.Context
	jctx, j.cancel = context.WithCancel(ctx)
	j.ctx, j.started = jctx, time.Now()
	pt.job, pt.pending = j, nil
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		res := rebuilt{part: pt.id, job: j, err: jctx.Err()}
		if backoff.Sleep(jctx, delay) {
			s.metered(func() { res.d, res.err = work(jctx) })
		}
		select {
		case s.rebuilt <- res:
		case <-jctx.Done():
		}
	}()
}

// rebuild folds partition p's records after run's cutoff up to offset target into
// a new delta, without bases (withBases).
func (s *session) rebuild(ctx context.Context, p int, run runs.Run, target int64) (*delta.Partition, error) {
	d := delta.New(s.spec, p, runOf(run, p))
	if cut := run.CutoffOf(p); s.deps.Archive != nil && s.cfg.DedupHorizon > 0 && run.ID != 0 && cut >= 0 {
		after := max(-1, cut-s.cfg.DedupHorizon)
		if err := s.deps.Archive.EventIDs(ctx, p, after, cut, run.CutoffEventTime.Add(-dedupMaxLateness), d.Prime); err != nil {
			return nil, err
		}
	}
	last, err := s.replay(ctx, p, d.Pos()+1, target, func(recs []delta.Record) error {
		d.Apply(recs)
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.Advance(last)
	return d, nil
}

// withBases attaches every entity's base state in d's run to d.
func (s *session) withBases(ctx context.Context, d *delta.Partition) (*delta.Partition, error) {
	if err := s.attachBases(ctx, itemsOf(d, slices.Collect(d.Entities()))); err != nil {
		return nil, err
	}
	return d, nil
}

// install makes a finished rebuild pt's live delta: it applies the records pt took
// meanwhile, writes every row of the rebuilt delta (a row moves to the new run once
// it covers at least as much as before), schedules the deletion of the rows the
// run's batch view dominates (prune), and starts the fetcher of a newly assigned
// partition. A finished prebuild becomes pt.next instead (ready). It reports false
// when ctx or ioCtx ended first.
func (s *session) install(ctx, ioCtx context.Context, res rebuilt) bool {
	pt := s.parts[res.part]
	if pt == nil || pt.job != res.job {
		return true // superseded by a newer run
	}
	prebuild := res.job.kind == rebuildPrebuild
	if res.err != nil {
		if ctx.Err() != nil {
			return false
		}
		s.m.errors.WithLabelValues(stageRebuild).Inc()
		if prebuild {
			// The next poll starts it again, while the run is still in progress.
			s.log.Warn("delta prebuild failed", "partition", pt.id, "err", res.err)
			pt.job, pt.pending = nil, nil
			return true
		}
		pt.fails++
		delay := min(minBackoff<<min(pt.fails, 10), maxBackoff)
		s.log.Warn("delta rebuild failed, retrying", "partition", pt.id, "err", res.err, "backoff", delay)
		s.startJob(ctx, pt, delay)
		return true
	}
	if len(pt.pending) > s.cfg.CatchUp && res.job.catchUps < maxCatchUps {
		s.catchUp(pt, res)
		return true
	}
	if prebuild {
		s.ready(pt, res)
		return true
	}
	if s.settle() != nil {
		return false
	}
	d := res.d
	if len(pt.pending) > 0 {
		items := itemsOf(d, d.Apply(pt.pending))
		if s.retry(ioCtx, stageBase, func() error { return s.attachBases(ioCtx, items) }) != nil {
			return false
		}
	}
	pt.job, pt.pending, pt.fails = nil, nil, 0
	var err error
	s.metered(func() { err = s.writeAll(ioCtx, d) })
	if err != nil {
		return false
	}
	run := d.Run()
	first := pt.live == nil
	if !first {
		s.measureApprox(ctx, pt.live, run)
	}
	pt.live, pt.pruneAt = d, time.Now().Add(s.cfg.PruneDelay)
	s.m.rebuild.WithLabelValues(res.job.kind).Observe(time.Since(res.job.started).Seconds())
	s.countEntities()
	s.log.Info("delta installed", "partition", pt.id, "kind", res.job.kind, "run", run.ID, "cutoff", run.Cutoff,
		"offset", d.Pos(), "entities", d.Len(), "took", time.Since(res.job.started))
	if first {
		if d.Pos() > pt.assigned && !s.commitCutoff(ioCtx, pt.id, d.Pos()) {
			return false
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.fetch(ctx, pt.id, d.Pos()+1, s.records)
		}()
	}
	return true
}

// ready makes a finished prebuild pt.next, once the records pt took meanwhile are
// applied to it: the micro-batches fold into it from now on.
func (s *session) ready(pt *part, res rebuilt) {
	d := res.d
	d.Apply(pt.pending)
	pt.next, pt.job, pt.pending = d, nil, nil
	s.m.rebuild.WithLabelValues(rebuildPrebuild).Observe(time.Since(res.job.started).Seconds())
	s.log.Info("delta prebuilt", "partition", pt.id, "run", d.Run().ID, "cutoff", d.Run().Cutoff,
		"offset", d.Pos(), "entities", d.Len(), "took", time.Since(res.job.started))
}

// catchUp applies the records pt took during its rebuild to the rebuilt delta on a
// goroutine of the rebuild's, off the consumer's loop, and hands the delta back to
// install; the records taken meanwhile wait in pt.pending for the next round.
func (s *session) catchUp(pt *part, res rebuilt) {
	j, recs := res.job, pt.pending
	pt.pending = nil
	j.catchUps++
	s.m.catchUp.Add(float64(len(recs)))
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.metered(func() {
			items := itemsOf(res.d, res.d.Apply(recs))
			if j.kind != rebuildPrebuild { // bases come when its run publishes
				res.err = s.retry(j.ctx, stageBase, func() error { return s.attachBases(j.ctx, items) })
			}
		})
		select {
		case s.rebuilt <- res:
		case <-j.ctx.Done():
		}
	}()
}

// runOf returns what partition p's delta under run is based on.
func runOf(run runs.Run, p int) delta.Run {
	return delta.Run{ID: run.ID, Cutoff: run.CutoffOf(p), AsOf: run.CutoffEventTime}
}

// itemsOf pairs entities of d with it.
func itemsOf(d *delta.Partition, ents []*delta.Entity) []item {
	items := make([]item, len(ents))
	for i, e := range ents {
		items[i] = item{d, e}
	}
	return items
}

// commitCutoff commits partition p past offset pos, where a delta rebuilt on
// assignment starts because the run's cutoff is ahead of the group's committed
// offset: the run covers every record up to it, so none is needed again, and
// without the commit a partition that gets no record after the cutoff would count
// them as lag for good. It reports false when ctx ended first.
func (s *session) commitCutoff(ctx context.Context, p int, pos int64) bool {
	commit := map[string]map[int]int64{s.cfg.Topic: {p: pos + 1}}
	if s.retry(ctx, stageCommit, func() error { return s.gen.CommitOffsets(commit) }) != nil {
		return false
	}
	if _, end, err := s.bounds(ctx, p); err == nil {
		s.m.lag.WithLabelValues(strconv.Itoa(p)).Set(float64(max(0, end-pos-1)))
	}
	return true
}

// writeAll writes a row for every entity of d, WriteChunk rows per upsert. No
// micro-batch may be in flight (settle).
func (s *session) writeAll(ctx context.Context, d *delta.Partition) error {
	items := make([]item, 0, min(d.Len(), s.cfg.WriteChunk))
	write := func() error {
		rows, model, err := s.scoredRows(ctx, items)
		if err == nil {
			err = s.upsert(ctx, model, rows)
		}
		if err != nil {
			return fmt.Errorf("write partition %d: %w", d.Partition(), err)
		}
		items = items[:0]
		return nil
	}
	for e := range d.Entities() {
		items = append(items, item{d, e})
		if len(items) == s.cfg.WriteChunk {
			if err := write(); err != nil {
				return err
			}
		}
	}
	return write()
}

func (s *session) countEntities() {
	n := 0
	for _, pt := range s.parts {
		if pt.live != nil {
			n += pt.live.Len()
		}
	}
	s.m.entities.Set(float64(n))
}
