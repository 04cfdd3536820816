// Package demomodel trains the platform's demo model end to end: it generates demo events
// (internal/demogen), collects them into labelled feature rows with the feature spec
// (train.Demo), fits a model on the older rows and evaluates it on the newest (train.Fit),
// exports it to ONNX, quantises that file to INT8 and compares both on every row
// (quantize.QuantizeAndEvaluate), and registers both files as a new version of the model.
// `lambda model train` and `lambda up --demo-events` run it.
package demomodel

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// Registry registers model versions; *registry.Registry is one.
type Registry interface {
	Register(ctx context.Context, name string, features []string, files ...registry.File) (registry.Version, error)
}

// Options say what model Train fits, on how much demo data.
type Options struct {
	// Name is the model the new version is registered under.
	Name string
	// Kind, Hidden and Epochs tune the fit (train.Config: empty Hidden and zero Epochs
	// take its defaults).
	Kind   train.Kind
	Hidden []int
	Epochs int
	// Events demo events of Entities entities are generated from Seed, which also seeds
	// the fit: equal options give equal models.
	Events, Entities int
	Seed             int64
	// Holdout is the fraction of the newest labels held out for evaluation, in (0, 1).
	Holdout float64
	// Mode is the graph form of the INT8 file.
	Mode quantize.Mode
	// Logger receives the steps (default: discard).
	Logger *slog.Logger
}

// Result is what Train did.
type Result struct {
	// Version is the registered version, with its fp32 and int8 files.
	Version registry.Version
	// Rows labelled rows were collected from the demo events in Collect.
	Rows    int
	Collect time.Duration
	// Fit is the trained model with its metrics on the training and holdout rows.
	Fit *train.Result
	// INT8 compares the int8 file with the fp32 one on every collected row.
	INT8 quantize.Report
}

// Train collects demo data, fits a model on it, exports and quantises it, and registers
// both files as a new version of opts.Name. Quantising and registering check the files on
// the ONNX Runtime, which must be initialised.
func Train(ctx context.Context, reg Registry, spec *features.Spec, opts Options) (Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	data, err := train.Demo(spec, demogen.Config{Seed: opts.Seed, Entities: opts.Entities}, opts.Events)
	if err != nil {
		return Result{}, fmt.Errorf("collect demo data: %w", err)
	}
	res := Result{Rows: data.Len(), Collect: time.Since(start)}
	trainSet, holdout := data.Split(opts.Holdout)
	log.Info("demo data collected", "events", opts.Events, "rows", res.Rows, "train", trainSet.Len(), "holdout", holdout.Len(), "took", res.Collect)
	res.Fit, err = train.Fit(ctx, trainSet, holdout, train.Config{
		Kind: opts.Kind, Hidden: opts.Hidden, Epochs: opts.Epochs, Seed: uint64(opts.Seed),
	})
	if err != nil {
		return Result{}, fmt.Errorf("fit %s: %w", opts.Kind, err)
	}
	log.Info("model trained", "kind", res.Fit.Config.Kind, "holdout_auc", res.Fit.Holdout.AUC, "took", res.Fit.Took)
	fp32, err := res.Fit.ONNX()
	if err != nil {
		return Result{}, err
	}
	var int8 []byte
	if int8, res.INT8, err = quantize.QuantizeAndEvaluate(ctx, fp32, opts.Mode, data.X, data.Width()); err != nil {
		return Result{}, fmt.Errorf("int8 variant: %w", err)
	}
	res.Version, err = reg.Register(ctx, opts.Name, res.Fit.Features,
		registry.File{Variant: registry.FP32, ONNX: fp32}, registry.File{Variant: registry.INT8, ONNX: int8})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}
