package tradeoffs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/replays"
	"github.com/lambda-platform/lambda/internal/runs"
)

// records are the figures the report reads from PostgreSQL.
type records struct {
	runs              int64   // batch runs finished (and published) in the window
	runCPU, runEvents float64 // their CPU seconds and events read
	served            struct{ bytes, events float64 }
	latestRun         reprocessed
	speedBytes        float64 // speed_view on disk
	speedMessages     float64 // messages after the served run's cutoff the speed view covers
	modelBytes        float64 // files of the active model versions
	modelAge          float64 // seconds since the newest activation
	releases          int64   // activations in the window
	latestReplay      reprocessed
}

type reprocessed struct {
	id                int64
	wall, cpu, events float64
}

const (
	runsSQL = `SELECT count(*), coalesce(sum(cpu_seconds), 0), coalesce(sum(events_read), 0)
FROM batch_runs WHERE status IN ('published', 'expired') AND finished_at >= $1`
	coverageSQL = `SELECT kafka_partition, max(covered_offset) FROM speed_view GROUP BY kafka_partition`
	modelsSQL   = `SELECT
  (SELECT coalesce(sum(a.size_bytes), 0) FROM model_artifacts a
     JOIN models m ON m.name = a.model_name AND m.active_version = a.version),
  (SELECT coalesce(extract(epoch FROM now() - max(activated_at)), 0) FROM model_activations WHERE rolled_back_at IS NULL),
  (SELECT count(*) FROM model_activations WHERE activated_at >= $1)`
)

// replaysLooked is how many of the newest replays are looked at for one that caught up.
const replaysLooked = 20

func readRecords(ctx context.Context, db *pgxpool.Pool, since time.Time) (records, error) {
	var r records
	if err := db.QueryRow(ctx, runsSQL, since).Scan(&r.runs, &r.runCPU, &r.runEvents); err != nil {
		return r, fmt.Errorf("trade-offs: batch runs: %w", err)
	}
	run, err := runs.Published(ctx, db)
	switch {
	case errors.Is(err, runs.ErrNoPublished):
	case err != nil:
		return r, fmt.Errorf("trade-offs: %w", err)
	default:
		r.served.bytes, r.served.events = float64(run.BytesStored), float64(run.EventsRead)
		r.latestRun = reprocessed{id: run.ID, wall: run.FinishedAt.Sub(run.StartedAt).Seconds(), cpu: run.CPUSeconds, events: float64(run.EventsRead)}
	}
	if err := r.readSpeed(ctx, db, run); err != nil {
		return r, err
	}
	if err := db.QueryRow(ctx, modelsSQL, since).Scan(&r.modelBytes, &r.modelAge, &r.releases); err != nil {
		return r, fmt.Errorf("trade-offs: models: %w", err)
	}
	reps, err := replays.List(ctx, db, replaysLooked)
	if err != nil {
		return r, fmt.Errorf("trade-offs: %w", err)
	}
	for _, rep := range reps {
		if !rep.ReadyAt.IsZero() {
			r.latestReplay = reprocessed{id: rep.ID, wall: rep.ReadyAt.Sub(rep.CreatedAt).Seconds(), cpu: rep.CPUSeconds, events: float64(rep.EventsRead)}
			break
		}
	}
	return r, nil
}

// readSpeed reads the speed view's size and how many messages after run's cutoff
// it covers.
func (r *records) readSpeed(ctx context.Context, db *pgxpool.Pool, run runs.Run) error {
	if err := db.QueryRow(ctx, `SELECT pg_total_relation_size('speed_view')`).Scan(&r.speedBytes); err != nil {
		return fmt.Errorf("trade-offs: speed view size: %w", err)
	}
	rows, err := db.Query(ctx, coverageSQL)
	if err != nil {
		return fmt.Errorf("trade-offs: speed view coverage: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p int
		var covered int64
		if err := rows.Scan(&p, &covered); err != nil {
			return fmt.Errorf("trade-offs: speed view coverage: %w", err)
		}
		r.speedMessages += float64(max(0, covered-run.CutoffOf(p)))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("trade-offs: speed view coverage: %w", err)
	}
	return nil
}
