package registry

import (
	"context"
	"fmt"

	"github.com/lambda-platform/lambda/inference"
)

// Load reads the file of variant of the version v (as Version or Active returned it) and
// loads it into a model with v's metadata, ready to score; the caller closes it. The ONNX
// Runtime must be initialised. A version without that file is ErrNotFound.
func (r *Registry) Load(ctx context.Context, v Version, variant Variant, opts inference.Options) (*inference.Model, error) {
	onnx, _, err := r.ONNX(ctx, v.Model, v.Version, variant)
	if err != nil {
		return nil, err
	}
	m, err := inference.LoadModel(onnx, v.Meta(), opts)
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", v, variant, err)
	}
	return m, nil
}
