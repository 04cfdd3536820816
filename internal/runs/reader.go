package runs

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/store"
)

// Reader is what the speed and serving layers read of the registry: the published
// run, its notifications, the run in progress and the run list. It is safe for concurrent use.
type Reader struct {
	db *pgxpool.Pool
}

// NewReader returns a Reader of db's batch_runs.
func NewReader(db *pgxpool.Pool) *Reader { return &Reader{db: db} }

// Published returns the served run; ok is false when none is published yet.
func (r *Reader) Published(ctx context.Context) (run Run, ok bool, err error) {
	run, err = Published(ctx, r.db)
	if errors.Is(err, ErrNoPublished) {
		return Run{}, false, nil
	}
	return run, err == nil, err
}

// Running returns the run in progress once its cutoff is recorded: the offsets and
// event time it reads up to, which a speed layer may build its next deltas on before
// the run publishes. ok is false when no run is in progress or its cutoff is not
// recorded yet.
func (r *Reader) Running(ctx context.Context) (run Run, ok bool, err error) {
	run, err = Running(ctx, r.db)
	if errors.Is(err, ErrNotFound) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, err
	}
	return run, len(run.CutoffOffsets) > 0, nil
}

// ListenPublished calls ready once it listens on PublishChannel, then notify at every
// publish, until ctx ends (it returns nil) or the connection fails. It holds a
// connection of its own, outside the pool, the whole time.
func (r *Reader) ListenPublished(ctx context.Context, ready, notify func()) error {
	return store.Listen(ctx, r.db, PublishChannel, ready, func(string) { notify() })
}

// Run returns the run id.
func (r *Reader) Run(ctx context.Context, id int64) (Run, error) { return Get(ctx, r.db, id) }

// Runs returns the newest limit runs, newest first.
func (r *Reader) Runs(ctx context.Context, limit int) ([]Run, error) { return List(ctx, r.db, limit) }

// None is a registry in which no run is ever published: what a Kappa replay's job and
// the readers of the Kappa architecture see.
type None struct{}

// Published reports no run.
func (None) Published(context.Context) (Run, bool, error) { return Run{}, false, nil }

// Running reports no run.
func (None) Running(context.Context) (Run, bool, error) { return Run{}, false, nil }

// ListenPublished calls ready and waits for ctx: nothing is ever published.
func (None) ListenPublished(ctx context.Context, ready, _ func()) error {
	ready()
	<-ctx.Done()
	return nil
}
