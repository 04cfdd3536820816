package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Activate makes version the active version of the model name: the version active so far
// is retired, the activation recorded for Rollback, and watchers are notified when the
// transaction commits. Activating the active version changes nothing.
func (r *Registry) Activate(ctx context.Context, name string, version int64) error {
	var from int64
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		var err error
		if from, err = lockModel(ctx, tx, name); err != nil {
			return err
		}
		var exists bool
		err = tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM model_versions WHERE model_name = $1 AND version = $2)",
			name, version).Scan(&exists)
		switch {
		case err != nil:
			return fmt.Errorf("look up version: %w", err)
		case !exists:
			return fmt.Errorf("version %d: %w", version, ErrNotFound)
		case from == version:
			return nil
		}
		if _, err := tx.Exec(ctx, "INSERT INTO model_activations (model_name, version) VALUES ($1, $2)", name, version); err != nil {
			return fmt.Errorf("record activation: %w", err)
		}
		return switchActive(ctx, tx, name, version)
	})
	if err != nil {
		return fmt.Errorf("activate %s@%d: %w", name, version, err)
	}
	if from != version {
		r.log.Info("model version activated", "model", name, "version", version, "previous", from)
	}
	return nil
}

// Rollback reactivates the version that was active before the current one and returns it.
// Rolling back again goes one activation further back; ErrNoPrevious when there is none.
func (r *Registry) Rollback(ctx context.Context, name string) (int64, error) {
	var from, to int64
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		var err error
		if from, err = lockModel(ctx, tx, name); err != nil {
			return err
		}
		// The live history, newest first: the current activation, then the one to return to.
		rows, err := tx.Query(ctx, `
			SELECT id, version FROM model_activations
			WHERE model_name = $1 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 2`, name)
		if err != nil {
			return fmt.Errorf("read activations: %w", err)
		}
		history, err := pgx.CollectRows(rows, pgx.RowToStructByPos[activation])
		if err != nil {
			return fmt.Errorf("read activations: %w", err)
		}
		if len(history) < 2 {
			return ErrNoPrevious
		}
		to = history[1].Version
		if _, err := tx.Exec(ctx, "UPDATE model_activations SET rolled_back_at = now() WHERE id = $1", history[0].ID); err != nil {
			return fmt.Errorf("record rollback: %w", err)
		}
		return switchActive(ctx, tx, name, to)
	})
	if err != nil {
		return 0, fmt.Errorf("roll back %s: %w", name, err)
	}
	r.log.Info("model version rolled back", "model", name, "version", to, "from", from)
	return to, nil
}

// activation is a row of model_activations.
type activation struct {
	ID      int64
	Version int64
}

// lockModel locks the model's row until the transaction ends, which serialises version
// numbering and activations per model, and returns its active version, 0 when none is; a
// missing model is ErrNotFound.
func lockModel(ctx context.Context, tx pgx.Tx, name string) (int64, error) {
	var v *int64
	err := tx.QueryRow(ctx, "SELECT active_version FROM models WHERE name = $1 FOR UPDATE", name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("model %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("lock model %s: %w", name, err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// switchActive retires the active version and activates version; the update of
// models.active_version fires the notification.
func switchActive(ctx context.Context, tx pgx.Tx, name string, version int64) error {
	if _, err := tx.Exec(ctx, "UPDATE model_versions SET status = 'retired' WHERE model_name = $1 AND status = 'active'", name); err != nil {
		return fmt.Errorf("retire active version: %w", err)
	}
	if _, err := tx.Exec(ctx, "UPDATE model_versions SET status = 'active' WHERE model_name = $1 AND version = $2", name, version); err != nil {
		return fmt.Errorf("activate version: %w", err)
	}
	if _, err := tx.Exec(ctx, "UPDATE models SET active_version = $2 WHERE name = $1", name, version); err != nil {
		return fmt.Errorf("set active version: %w", err)
	}
	return nil
}
