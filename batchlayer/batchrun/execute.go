package batchrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/backoff"
	"github.com/lambda-platform/lambda/internal/cost"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
)

// execute runs e to its end, holding lock, and records the outcome.
func (r *Runner) execute(lock *runs.Lock, e *execution) {
	defer r.wg.Done()
	r.metrics.inProgress.Set(1)
	ctx := r.ctx
	log := r.log.With("run", e.run.ID)
	start := time.Now()
	meter, streamed := cost.Start(), r.deps.Events.BytesStreamed()

	var counts runs.Counts
	err := r.deps.Models.UseActive(ctx, func(m Model, spec *features.Spec) error {
		var err error
		counts, err = r.build(ctx, e, m, spec)
		return err
	})
	c := meter.Stop()
	counts.CPUSeconds, counts.PeakHeapBytes, counts.BytesRead = c.CPUSeconds, c.PeakHeapBytes, r.deps.Events.BytesStreamed()-streamed
	err = staged(reasonModel, err) // what build did not tag: loading the model
	bk, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	var published runs.Run
	switch {
	case err == nil && r.cfg.Shards > 1: // the shards' rows hold the counts of what they did
		own := counts
		own.EventsRead, own.EntitiesScored, own.RowsWritten = 0, 0, 0
		err = r.settle(bk, e.run.ID, "publish", func() (err error) {
			published, err = runs.PublishShards(bk, r.deps.Postgres, e.run.ID, own)
			return err
		})
		err = staged(reasonPublish, err)
	case err == nil:
		err = r.settle(bk, e.run.ID, "publish", func() (err error) {
			published, err = runs.Publish(bk, r.deps.Postgres, e.run.ID, counts)
			return err
		})
		err = staged(reasonPublish, err)
	}
	elapsed := time.Since(start)
	if err != nil {
		reason := failureReason(err)
		r.metrics.failures.WithLabelValues(reason).Inc()
		r.metrics.duration.WithLabelValues("failed").Observe(elapsed.Seconds())
		if r.recordFailure(bk, e.run.ID, err, counts) {
			r.dropView(bk, e.run.ID)
		}
		log.Error("batch run failed; the previous run stays served", "reason", reason, "err", err, "duration", elapsed)
	} else {
		r.metrics.published.Inc()
		r.metrics.duration.WithLabelValues("published").Observe(elapsed.Seconds())
		r.setServed(published)
		log.Info("batch run published", "events", counts.EventsRead, "entities", counts.EntitiesScored,
			"rows", counts.RowsWritten, "cutoff_event_time", published.CutoffEventTime, "duration", elapsed,
			"events_per_second", int64(float64(counts.EventsRead)/elapsed.Seconds()))
		if err := r.retain(bk); err != nil {
			log.Error("batch view retention; retried after the next run", "err", err)
		}
	}
	lock.Release(bk)
	r.mu.Lock()
	r.active = nil
	r.mu.Unlock()
	r.metrics.inProgress.Set(0)
	close(e.done)
}

// recordFailure marks run id failed and reports whether its view may be dropped: not
// when the registry cannot tell, or says the run was published after all (a publish
// whose answer got lost); retention drops a view nobody owns later.
func (r *Runner) recordFailure(ctx context.Context, id int64, cause error, counts runs.Counts) bool {
	err := r.settle(ctx, id, "record failure", func() error { return runs.Fail(ctx, r.deps.Postgres, id, errorText(cause), counts) })
	if err == nil {
		return true
	}
	r.log.Error("record batch run failure", "run", id, "err", err)
	run, err := runs.Get(ctx, r.deps.Postgres, id)
	return err == nil && run.Status != runs.StatusPublished
}

// settle calls fn, which records the end of run id in the registry, until it succeeds,
// the registry answers that it cannot (the run is no longer running, its shards are
// incomplete) or ctx ends, backing off in between: a PostgreSQL that restarts while a
// run ends costs neither the run nor its record. The lock the run held went with the
// server's sessions; Publish and Fail change only a run still running, so a run that
// another trigger has abandoned meanwhile stays failed.
func (r *Runner) settle(ctx context.Context, id int64, step string, fn func() error) error {
	var answer error
	err := backoff.Retry(ctx, settleFirstWait, settleLastWait, func() error {
		err := fn()
		if errors.Is(err, runs.ErrNotRunning) || errors.Is(err, runs.ErrShardsIncomplete) {
			answer = err
			return nil
		}
		return err
	}, func(err error, wait time.Duration) {
		r.metrics.registryRetries.Inc()
		r.log.Warn("batch run registry unavailable, retrying", "run", id, "step", step, "err", err, "retry_in", wait)
	})
	if answer != nil {
		return answer
	}
	return err
}

// build reads, folds, scores and writes the run's view and returns its counts.
func (r *Runner) build(ctx context.Context, e *execution, m Model, spec *features.Spec) (runs.Counts, error) {
	if err := checkModel(m, spec); err != nil {
		return runs.Counts{}, staged(reasonModel, err)
	}
	cutoff, plan, err := r.plan(ctx, e, m)
	if err != nil {
		return runs.Counts{}, staged(reasonCutoff, err)
	}
	e.progress.total.Store(plan.Rows)
	// The run's id can already have rows: a registry reset while ClickHouse kept its
	// data. Written over, they would mix two runs in one view.
	if err := view.DropRun(ctx, r.deps.ClickHouse, r.cfg.Database, uint64(e.run.ID)); err != nil {
		return runs.Counts{}, staged(reasonWrite, err)
	}
	vr := view.Run{ID: uint64(e.run.ID), AsOf: plan.Newest, ModelName: m.Meta().Name, ModelVersion: m.Meta().Version}
	if r.cfg.Shards > 1 {
		err = r.shards(ctx, e, cutoff, vr, m, spec)
	} else {
		err = r.fold(ctx, e.run.ID, &e.progress, plan.Chunks, cutoff, vr, m, spec)
	}
	counts := e.progress.counts()
	if err == nil {
		counts.BytesStored, err = view.RunBytes(ctx, r.deps.ClickHouse, r.cfg.Database, uint64(e.run.ID))
		err = staged(reasonWrite, err)
	}
	return counts, err
}

// fold reads, folds, scores and writes chunks, Config.Parallel at a time, counting
// in p.
func (r *Runner) fold(ctx context.Context, id int64, p *progress, chunks []master.Chunk, cutoff master.Cutoff,
	vr view.Run, m Model, spec *features.Spec) error {
	var copies atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.cfg.Parallel)
	// One slot per chunk in flight, reused by the next chunk and dropped with the run:
	// a long-lived process does not keep a run's largest chunk.
	all := make([]*slot, r.cfg.Parallel)
	slots := make(chan *slot, r.cfg.Parallel)
	for i := range all {
		all[i] = &slot{w: view.NewWriter(r.deps.ClickHouse, r.cfg.Database, vr, r.cfg.FlushRows)}
		slots <- all[i]
	}
	for i, chunk := range chunks {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			s := <-slots
			defer func() { slots <- s }()
			n, err := r.chunk(gctx, id, p, i, chunk, cutoff, s, m, spec)
			copies.Add(n)
			return err
		})
	}
	err := g.Wait()
	if err == nil {
		err = ctx.Err() // a cancel between chunks
	}
	for _, s := range all {
		if err != nil {
			break
		}
		before := s.w.Written()
		err = staged(reasonWrite, s.w.Flush(ctx))
		r.written(p, s.w.Written()-before)
	}
	r.metrics.copies.Add(float64(copies.Load()))
	return err
}

// slot is what a chunk in flight works with: the buffer its read goes into, and the
// writer of its rows. The writer carries rows over to the slot's next chunk, so that
// batch_view gets parts of up to Config.FlushRows rows, not one small part per chunk
// that ClickHouse would write and then merge again.
type slot struct {
	buf master.ReadBuffer
	w   *view.Writer
}

// written counts rows inserted into batch_view.
func (r *Runner) written(p *progress, n int64) {
	p.add(0, 0, n)
	r.metrics.rowsWritten.Add(float64(n))
}

// checkModel fails when m cannot score spec's vectors.
func checkModel(m Model, spec *features.Spec) error {
	meta := m.Meta()
	if m.Width() != spec.Len() {
		return fmt.Errorf("%w: model %s takes %d inputs, the spec has %d features", ErrModelMismatch, meta, m.Width(), spec.Len())
	}
	if len(meta.Features) > 0 && !slices.Equal(meta.Features, spec.FeatureNames()) {
		return fmt.Errorf("%w: model %s takes %v, the spec has %v", ErrModelMismatch, meta, meta.Features, spec.FeatureNames())
	}
	return nil
}

// plan takes the cutoff, plans the read and records both with the model.
func (r *Runner) plan(ctx context.Context, e *execution, m Model) (master.Cutoff, master.Plan, error) {
	coverage, err := r.deps.Coverage.Coverage(ctx)
	if err != nil {
		return master.Cutoff{}, master.Plan{}, fmt.Errorf("read archiver coverage: %w", err)
	}
	imported, err := r.deps.Events.ImportedMax(ctx)
	if err != nil {
		return master.Cutoff{}, master.Plan{}, err
	}
	cutoff := master.CutoffFromCoverage(coverage, imported)
	if len(cutoff.Offsets) == 0 {
		return master.Cutoff{}, master.Plan{}, ErrNoPartitions
	}
	plan, err := r.deps.Events.Plan(ctx, cutoff, r.cfg.ChunkRows)
	if err != nil {
		return master.Cutoff{}, master.Plan{}, err
	}
	err = runs.SetCutoff(ctx, r.deps.Postgres, e.run.ID, runs.Cutoff{
		Offsets: cutoff.Offsets, Imported: cutoff.Imported, EventTime: plan.Newest,
		ModelName: m.Meta().Name, ModelVersion: m.Meta().Version,
	})
	if err != nil {
		return master.Cutoff{}, master.Plan{}, err
	}
	r.log.Info("batch run cutoff", "run", e.run.ID, "offsets", cutoff.Offsets, "imported", cutoff.Imported,
		"as_of", plan.Newest, "rows", plan.Rows, "chunks", len(plan.Chunks), "model", m.Meta())
	return cutoff, plan, nil
}

// chunk reads, folds and scores the entities of one chunk and hands their rows to
// the slot's writer; it returns how many copies of rows it skipped.
func (r *Runner) chunk(ctx context.Context, id int64, p *progress, i int, chunk master.Chunk, cutoff master.Cutoff, s *slot,
	m Model, spec *features.Spec) (int64, error) {
	sc := newScorer(m, spec.Len(), r.cfg.ScoreBatch, cutoff, s.w, func(scored, written int64) {
		p.add(0, scored, 0)
		r.metrics.entitiesScored.Add(float64(scored))
		r.written(p, written)
	})
	stream := features.NewStream(spec, func(id string, st *features.State) error { return sc.add(ctx, id, st) })
	queryID := fmt.Sprintf("lambda-batch-run-%d-chunk-%d-shard-%d-of-%d", id, i, cutoff.Shard.Index, max(cutoff.Shard.Of, 1))
	stats, err := r.deps.Events.Read(ctx, cutoff, chunk, queryID, &s.buf, func(rec arrow.Record, rows []int32) error {
		if err := stream.AddRows(rec, rows); err != nil {
			return staged(reasonRead, err)
		}
		p.add(int64(len(rows)), 0, 0)
		r.metrics.eventsRead.Add(float64(len(rows)))
		return nil
	})
	if err != nil {
		return stats.Copies, staged(reasonRead, err)
	}
	if err := stream.Close(); err != nil {
		return stats.Copies, staged(reasonRead, err)
	}
	return stats.Copies, sc.flush(ctx)
}
