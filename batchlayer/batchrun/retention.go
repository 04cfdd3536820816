package batchrun

import (
	"context"
	"slices"

	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/runs"
)

// retain expires the published runs beyond the newest Config.Retention and drops
// every batch_view partition that no published run owns. It runs under the batch
// lock, after the run published, so no partition being written is dropped.
func (r *Runner) retain(ctx context.Context) error {
	expired, err := runs.Expire(ctx, r.deps.Postgres, r.cfg.Retention)
	if err != nil {
		return err
	}
	if len(expired) > 0 {
		r.log.Info("batch runs expired", "runs", expired)
	}
	keep, err := runs.PublishedIDs(ctx, r.deps.Postgres)
	if err != nil {
		return err
	}
	parts, err := view.Partitions(ctx, r.deps.ClickHouse, r.cfg.Database)
	if err != nil {
		return err
	}
	for _, id := range parts {
		if slices.Contains(keep, int64(id)) {
			continue
		}
		if err := view.DropRun(ctx, r.deps.ClickHouse, r.cfg.Database, id); err != nil {
			return err
		}
		r.metrics.dropped.Inc()
	}
	return nil
}
