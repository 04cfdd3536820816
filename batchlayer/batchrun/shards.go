package batchrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/cost"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
)

// shardPoll is how often a run waiting for external workers looks at its shards.
const shardPoll = 200 * time.Millisecond

// ErrShardBusy: another worker holds the shard.
var ErrShardBusy = errors.New("batch run shard is held by another worker")

// shards records the run's Config.Shards shards and has them worked: by goroutines
// of this process, or by `lambda batch worker` processes it waits for.
func (r *Runner) shards(ctx context.Context, e *execution, cutoff master.Cutoff, vr view.Run, m Model, spec *features.Spec) error {
	id, n := e.run.ID, r.cfg.Shards
	if err := runs.CreateShards(ctx, r.deps.Postgres, id, n); err != nil {
		return staged(reasonShard, err)
	}
	if r.cfg.ExternalWorkers {
		r.log.Info("batch run waits for its shard workers", "run", id, "shards", n,
			"command", fmt.Sprintf("lambda batch worker --run %d --shard I/%d", id, n))
		return r.awaitShards(ctx, id)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range n {
		g.Go(func() error {
			s := master.Shard{Index: i, Of: n}
			if err := runs.ClaimShard(gctx, r.deps.Postgres, id, i, n, fmt.Sprintf("goroutine of pid %d", os.Getpid())); err != nil {
				return staged(reasonShard, err)
			}
			p := &progress{run: &e.progress}
			err := r.shard(gctx, id, p, cutoff, s, vr, m, spec)
			return r.endShard(gctx, id, s, p.counts(), err)
		})
	}
	return g.Wait()
}

// shard reads, folds, scores and writes the entities of shard s of cutoff.
func (r *Runner) shard(ctx context.Context, id int64, p *progress, cutoff master.Cutoff, s master.Shard,
	vr view.Run, m Model, spec *features.Spec) error {
	cutoff.Shard = s
	plan, err := r.deps.Events.Plan(ctx, cutoff, r.cfg.ChunkRows)
	if err != nil {
		return staged(reasonCutoff, err)
	}
	p.total.Store(plan.Rows)
	start := time.Now()
	err = r.fold(ctx, id, p, plan.Chunks, cutoff, vr, m, spec)
	r.log.Info("batch run shard folded", "run", id, "shard", s, "chunks", len(plan.Chunks),
		"events", p.eventsRead.Load(), "entities", p.entities.Load(), "duration", time.Since(start), "err", err)
	return err
}

// endShard records the end of shard s of run id, a success unless cause, and returns
// cause, or the error recording it.
func (r *Runner) endShard(ctx context.Context, id int64, s master.Shard, counts runs.Counts, cause error) error {
	bk, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
	defer cancel()
	if cause != nil {
		if err := runs.FailShard(bk, r.deps.Postgres, id, s.Index, errorText(cause), counts); err != nil {
			r.log.Error("record batch run shard failure", "run", id, "shard", s, "err", err)
		}
		return cause
	}
	return staged(reasonShard, runs.CompleteShard(bk, r.deps.Postgres, id, s.Index, counts))
}

// awaitShards waits until every shard of run id succeeded, and fails when one failed
// or lost its worker.
func (r *Runner) awaitShards(ctx context.Context, id int64) error {
	for {
		shards, err := runs.Shards(ctx, r.deps.Postgres, id)
		if err != nil {
			return staged(reasonShard, err)
		}
		done := 0
		for _, s := range shards {
			switch s.Status {
			case runs.ShardSucceeded:
				done++
			case runs.ShardFailed:
				return staged(reasonShard, fmt.Errorf("shard %d/%d failed (worker %s): %s", s.Index, s.Of, s.Worker, s.Error))
			case runs.ShardRunning:
				gone, err := runs.WorkerGone(ctx, r.deps.Postgres, id, s.Index)
				if err != nil {
					return staged(reasonShard, err)
				}
				if gone {
					return staged(reasonShard, fmt.Errorf("shard %d/%d lost its worker %s", s.Index, s.Of, s.Worker))
				}
			}
		}
		if done == len(shards) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(shardPoll):
		}
	}
}

// Work works shard s of run id, which waits for external workers
// (Config.ExternalWorkers), as worker (who and where, for the record): it claims the
// shard, reads, folds, scores and writes its entities with the run's cutoff and model
// (which must still be the active one), and records the shard's counts, or why it
// failed. The shard's lock is held throughout, so the run sees a worker that dies.
func (r *Runner) Work(ctx context.Context, id int64, s master.Shard, worker string) (runs.Counts, error) {
	if err := s.Valid(); err != nil || s.Whole() {
		return runs.Counts{}, fmt.Errorf("%w %s: want I/N with N ≥ 2", master.ErrInvalidShard, s)
	}
	lock, ok, err := runs.LockShard(ctx, r.deps.Postgres, id, s.Index)
	if err != nil {
		return runs.Counts{}, err
	}
	if !ok {
		return runs.Counts{}, fmt.Errorf("shard %s of batch run %d: %w", s, id, ErrShardBusy)
	}
	defer lock.Release(ctx)
	if err := runs.ClaimShard(ctx, r.deps.Postgres, id, s.Index, s.Of, worker); err != nil {
		return runs.Counts{}, err
	}
	run, err := runs.Get(ctx, r.deps.Postgres, id)
	if err != nil {
		return runs.Counts{}, r.endShard(ctx, id, s, runs.Counts{}, err)
	}
	cutoff := master.Cutoff{Offsets: run.CutoffOffsets, Imported: run.CutoffImported}
	meter, streamed := cost.Start(), r.deps.Events.BytesStreamed()
	p := &progress{started: time.Now()}
	err = r.deps.Models.UseActive(ctx, func(m Model, spec *features.Spec) error {
		if err := checkModel(m, spec); err != nil {
			return staged(reasonModel, err)
		}
		if meta := m.Meta(); meta.Name != run.ModelName || meta.Version != run.ModelVersion {
			return staged(reasonModel, fmt.Errorf("%w: the run scores with %s@%d, the active model is %s", ErrModelMismatch, run.ModelName, run.ModelVersion, meta))
		}
		vr := view.Run{ID: uint64(id), AsOf: run.CutoffEventTime, ModelName: run.ModelName, ModelVersion: run.ModelVersion}
		return r.shard(ctx, id, p, cutoff, s, vr, m, spec)
	})
	err = staged(reasonModel, err)
	c := meter.Stop()
	counts := p.counts()
	counts.CPUSeconds, counts.PeakHeapBytes, counts.BytesRead = c.CPUSeconds, c.PeakHeapBytes, r.deps.Events.BytesStreamed()-streamed
	return counts, r.endShard(ctx, id, s, counts, err)
}
