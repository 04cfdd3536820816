package views

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/store"
)

// Kappa reads the views of Kappa replays (package replays): which one is live, and
// its rows, which have the speed view's shape (base run 0: a replay folds the whole
// log). It is safe for concurrent use.
type Kappa struct {
	db *pgxpool.Pool
}

// NewKappa returns the reader of db's replays.
func NewKappa(db *pgxpool.Pool) *Kappa { return &Kappa{db: db} }

// Live returns the id of the live replay (0 when none is) and, per partition, the last
// offset its view covers: every row of the partition covers at least that much.
func (k *Kappa) Live(ctx context.Context) (int64, []int64, error) {
	r, ok, err := replays.LiveReplay(ctx, k.db)
	if err != nil || !ok {
		return 0, nil, err
	}
	return r.ID, r.Covered, nil
}

// KappaRows returns the rows of those of ids the view of replay id holds, in any order.
func (k *Kappa) KappaRows(ctx context.Context, id int64, ids []string) ([]SpeedRow, error) {
	return readSpeedRows(ctx, k.db, replays.Table(id), ids)
}

// ListenReplays calls ready once it listens on replays.ChangeChannel, then notify at
// every change of a replay's status, until ctx ends (it returns nil) or the connection
// fails.
func (k *Kappa) ListenReplays(ctx context.Context, ready, notify func()) error {
	return store.Listen(ctx, k.db, replays.ChangeChannel, ready, func(string) { notify() })
}
