package quantize

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/lambda-platform/lambda/inference"
)

// Report compares an INT8 variant with its fp32 model.
type Report struct {
	FP32Bytes, INT8Bytes int
	// Rows is the number of sample rows both models scored.
	Rows int
	// MaxAbsDelta, P99AbsDelta and MeanAbsDelta are over the sample's scores:
	// |int8 - fp32|.
	MaxAbsDelta, P99AbsDelta, MeanAbsDelta float64
}

// SizeRatio is how many times smaller the INT8 file is.
func (r Report) SizeRatio() float64 { return float64(r.FP32Bytes) / float64(r.INT8Bytes) }

// String reads like "fp32 263.1 KB → int8 67.2 KB (3.92× smaller), max |Δ| 0.0041, p99 |Δ| 0.0021, mean |Δ| 0.0006 over 2000 rows".
func (r Report) String() string {
	return fmt.Sprintf("fp32 %.1f KB → int8 %.1f KB (%.2f× smaller), max |Δ| %.4f, p99 |Δ| %.4f, mean |Δ| %.4f over %d rows",
		float64(r.FP32Bytes)/1000, float64(r.INT8Bytes)/1000, r.SizeRatio(), r.MaxAbsDelta, r.P99AbsDelta, r.MeanAbsDelta, r.Rows)
}

// Evaluate scores the sample (rows of width values, one after the other) with both models on
// the ONNX Runtime, which InitRuntime must have loaded, and compares the scores.
func Evaluate(ctx context.Context, fp32, int8 []byte, sample []float32, width int) (Report, error) {
	want, err := score(ctx, fp32, "fp32", sample, width)
	if err != nil {
		return Report{}, err
	}
	got, err := score(ctx, int8, "int8", sample, width)
	if err != nil {
		return Report{}, err
	}
	r := Report{FP32Bytes: len(fp32), INT8Bytes: len(int8), Rows: len(want)}
	if r.Rows == 0 {
		return r, nil
	}
	deltas := make([]float64, r.Rows)
	var sum float64
	for i, w := range want {
		deltas[i] = math.Abs(float64(got[i]) - float64(w))
		sum += deltas[i]
	}
	slices.Sort(deltas)
	r.MaxAbsDelta = deltas[r.Rows-1]
	r.P99AbsDelta = deltas[(r.Rows-1)*99/100]
	r.MeanAbsDelta = sum / float64(r.Rows)
	return r, nil
}

// QuantizeAndEvaluate returns the INT8 variant of fp32 in mode (Quantize) and how it
// compares with fp32 on the sample (Evaluate).
func QuantizeAndEvaluate(ctx context.Context, fp32 []byte, mode Mode, sample []float32, width int) ([]byte, Report, error) {
	int8, err := Quantize(fp32, mode)
	if err != nil {
		return nil, Report{}, err
	}
	rep, err := Evaluate(ctx, fp32, int8, sample, width)
	if err != nil {
		return nil, Report{}, err
	}
	return int8, rep, nil
}

// score loads one model for a single run over the sample.
func score(ctx context.Context, onnx []byte, variant string, sample []float32, width int) (_ []float32, err error) {
	m, err := inference.LoadModel(onnx, inference.Meta{Name: variant}, inference.Options{Sessions: 1})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, m.Close()) }()
	scores, err := m.ScoreFlat(ctx, sample, width)
	if err != nil {
		return nil, fmt.Errorf("score sample: %w", err)
	}
	return scores, nil
}
