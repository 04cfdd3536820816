package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Models lists every model by name.
func (r *Registry) Models(ctx context.Context) ([]Model, error) {
	rows, err := r.db.Query(ctx, `
		SELECT m.name, m.description, m.created_at, coalesce(m.active_version, 0), coalesce(max(v.version), 0)
		FROM models m LEFT JOIN model_versions v ON v.model_name = m.name
		GROUP BY m.name ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	models, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Model, error) {
		var m Model
		err := row.Scan(&m.Name, &m.Description, &m.CreatedAt, &m.ActiveVersion, &m.LatestVersion)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return models, nil
}

// Versions lists the versions of the model name, oldest first.
func (r *Registry) Versions(ctx context.Context, name string) ([]Version, error) {
	vs, err := r.versions(ctx, "v.model_name = $1", name)
	if err != nil {
		return nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	if len(vs) == 0 {
		if err := r.modelExists(ctx, name); err != nil {
			return nil, fmt.Errorf("list versions of %s: %w", name, err)
		}
	}
	return vs, nil
}

// Version returns one version of the model name.
func (r *Registry) Version(ctx context.Context, name string, version int64) (Version, error) {
	vs, err := r.versions(ctx, "v.model_name = $1 AND v.version = $2", name, version)
	if err == nil && len(vs) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Version{}, fmt.Errorf("version %s@%d: %w", name, version, err)
	}
	return vs[0], nil
}

// Active returns the active version of the model name: ErrNoActive when it has none,
// ErrNotFound when there is no such model.
func (r *Registry) Active(ctx context.Context, name string) (Version, error) {
	vs, err := r.versions(ctx, "v.model_name = $1 AND v.status = 'active'", name)
	if err == nil && len(vs) == 0 {
		err = r.modelExists(ctx, name)
		if err == nil {
			err = ErrNoActive
		}
	}
	if err != nil {
		return Version{}, fmt.Errorf("active version of %s: %w", name, err)
	}
	return vs[0], nil
}

// ONNX returns a version's file of the given variant and its description.
func (r *Registry) ONNX(ctx context.Context, name string, version int64, variant Variant) ([]byte, Artifact, error) {
	a := Artifact{Variant: variant}
	var onnx []byte
	err := r.db.QueryRow(ctx, `
		SELECT sha256, size_bytes, created_at, onnx FROM model_artifacts
		WHERE model_name = $1 AND version = $2 AND variant = $3`,
		name, version, variant).Scan(&a.SHA256, &a.Size, &a.CreatedAt, &onnx)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, Artifact{}, fmt.Errorf("%s file of %s@%d: %w", variant, name, version, err)
	}
	return onnx, a, nil
}

// versions reads the versions matching where (over model_versions v) with their artifacts.
func (r *Registry) versions(ctx context.Context, where string, args ...any) ([]Version, error) {
	rows, err := r.db.Query(ctx, `
		SELECT v.model_name, v.version, v.feature_names, v.input_width, v.status, v.created_at,
		       a.variant, a.sha256, a.size_bytes, a.created_at
		FROM model_versions v LEFT JOIN model_artifacts a ON a.model_name = v.model_name AND a.version = v.version
		WHERE `+where+`
		ORDER BY v.version, a.variant = 'int8', a.variant`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []Version
	for rows.Next() {
		var v Version
		var a struct { // NULL for a version without artifacts
			variant, sha *string
			size         *int64
			created      *time.Time
		}
		if err := rows.Scan(&v.Model, &v.Version, &v.Features, &v.InputWidth, &v.Status, &v.CreatedAt,
			&a.variant, &a.sha, &a.size, &a.created); err != nil {
			return nil, err
		}
		if n := len(vs); n == 0 || vs[n-1].Version != v.Version {
			vs = append(vs, v)
		}
		if a.variant != nil {
			last := &vs[len(vs)-1]
			last.Artifacts = append(last.Artifacts, Artifact{Variant: Variant(*a.variant), SHA256: *a.sha, Size: *a.size, CreatedAt: *a.created})
		}
	}
	return vs, rows.Err()
}

func (r *Registry) modelExists(ctx context.Context, name string) error {
	var exists bool
	if err := r.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM models WHERE name = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("model %s: %w", name, ErrNotFound)
	}
	return nil
}
