package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/lambda-platform/lambda/inference"
)

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// Register adds a new version of the model name (created if new) with the given feature
// names and files, which must include the fp32 one, and returns it with status registered.
// Versions are numbered 1, 2, … per model, also under concurrent registrations.
func (r *Registry) Register(ctx context.Context, name string, features []string, files ...File) (Version, error) {
	if err := checkRegistration(name, features, files); err != nil {
		return Version{}, fmt.Errorf("register %s: %w", name, err)
	}
	v := Version{Model: name, Features: slices.Clone(features), InputWidth: len(features)}
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO models (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name); err != nil {
			return fmt.Errorf("create model: %w", err)
		}
		if _, err := lockModel(ctx, tx, name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
			INSERT INTO model_versions (model_name, version, feature_names, input_width)
			SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM model_versions WHERE model_name = $1
			RETURNING version, status, created_at`,
			name, features, len(features)).Scan(&v.Version, &v.Status, &v.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert version: %w", err)
		}
		for _, f := range sortedFiles(files) {
			a, err := insertArtifact(ctx, tx, name, v.Version, f)
			if err != nil {
				return err
			}
			v.Artifacts = append(v.Artifacts, a)
		}
		return nil
	})
	if err != nil {
		return Version{}, fmt.Errorf("register %s: %w", name, err)
	}
	r.log.Info("model version registered", "model", name, "version", v.Version, "features", len(features), "variants", variantNames(v.Artifacts))
	return v, nil
}

// AddArtifact adds a file of another variant to an existing version, such as the int8
// variant of an imported fp32 model.
func (r *Registry) AddArtifact(ctx context.Context, name string, version int64, f File) (Artifact, error) {
	var a Artifact
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		var features []string
		err := tx.QueryRow(ctx, "SELECT feature_names FROM model_versions WHERE model_name = $1 AND version = $2 FOR SHARE",
			name, version).Scan(&features)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("read version: %w", err)
		}
		if err := checkFile(f, len(features)); err != nil {
			return err
		}
		a, err = insertArtifact(ctx, tx, name, version, f)
		return err
	})
	if err != nil {
		return Artifact{}, fmt.Errorf("add %s artifact to %s@%d: %w", f.Variant, name, version, err)
	}
	r.log.Info("model artifact added", "model", name, "version", version, "variant", f.Variant, "bytes", a.Size)
	return a, nil
}

func insertArtifact(ctx context.Context, tx pgx.Tx, name string, version int64, f File) (Artifact, error) {
	sum := sha256.Sum256(f.ONNX)
	a := Artifact{Variant: f.Variant, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(f.ONNX))}
	err := tx.QueryRow(ctx, `
		INSERT INTO model_artifacts (model_name, version, variant, sha256, size_bytes, onnx)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING created_at`,
		name, version, f.Variant, a.SHA256, a.Size, f.ONNX).Scan(&a.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return Artifact{}, fmt.Errorf("%s file: %w", f.Variant, ErrExists)
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("insert %s file: %w", f.Variant, err)
	}
	return a, nil
}

func checkRegistration(name string, features []string, files []File) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if len(features) == 0 {
		return fmt.Errorf("%w: no feature names", ErrFeatureMismatch)
	}
	seen := map[string]bool{}
	for _, f := range features {
		if f == "" || seen[f] {
			return fmt.Errorf("%w: feature name %q empty or repeated", ErrFeatureMismatch, f)
		}
		seen[f] = true
	}
	if !slices.ContainsFunc(files, func(f File) bool { return f.Variant == FP32 }) {
		return fmt.Errorf("%w: a new version needs its %s file", ErrInvalidVariant, FP32)
	}
	for i, f := range files {
		if slices.ContainsFunc(files[:i], func(g File) bool { return g.Variant == f.Variant }) {
			return fmt.Errorf("%w: two %s files", ErrInvalidVariant, f.Variant)
		}
		if err := checkFile(f, len(features)); err != nil {
			return err
		}
	}
	return nil
}

// checkFile checks that f is a model the scorer loads, with an input of width features:
// its signature read from the file, then a trial load by the ONNX Runtime, which checks
// every operator, so that nothing the scorers cannot load is ever stored.
func checkFile(f File, width int) error {
	if !slices.Contains(Variants, f.Variant) {
		return fmt.Errorf("%w %q: want one of %v", ErrInvalidVariant, f.Variant, Variants)
	}
	sig, err := inference.Inspect(f.ONNX)
	if err != nil {
		return fmt.Errorf("%s file: %w", f.Variant, err)
	}
	if sig.Width != width {
		return fmt.Errorf("%s file: input %q has width %d for %d feature names: %w", f.Variant, sig.Input, sig.Width, width, ErrFeatureMismatch)
	}
	m, err := inference.LoadModel(f.ONNX, inference.Meta{Name: string(f.Variant)}, inference.Options{Sessions: 1, MaxBatch: 1})
	if err != nil {
		return fmt.Errorf("%s file: trial load: %w", f.Variant, err)
	}
	return m.Close()
}

// sortedFiles returns the files in the order of Variants.
func sortedFiles(files []File) []File {
	return slices.SortedFunc(slices.Values(files), func(a, b File) int {
		return slices.Index(Variants, a.Variant) - slices.Index(Variants, b.Variant)
	})
}

func variantNames(as []Artifact) []Variant {
	out := make([]Variant, len(as))
	for i, a := range as {
		out[i] = a.Variant
	}
	return out
}
