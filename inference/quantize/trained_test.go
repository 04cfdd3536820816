package quantize_test

import (
	"testing"

	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// maxTrainedDelta bounds |int8 - fp32| of the trained MLP's scores (probabilities) in the
// default mode.
const maxTrainedDelta = 0.02

// TestTrainedMLP quantises the MLP `lambda model train` trains by default and scores every
// row of its dataset, raw feature vectors with their heavy tails, on the real runtime.
func TestTrainedMLP(t *testing.T) {
	d, err := train.Demo(features.DefaultSpec(), demogen.Config{Seed: 1}, train.DefaultDemoEvents)
	if err != nil {
		t.Fatal(err)
	}
	tr, ho := d.Split(0.2)
	r, err := train.Fit(t.Context(), tr, ho, train.Config{Kind: train.MLP, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	fp32, err := r.ONNX()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range quantize.Modes {
		int8, rep, err := quantize.QuantizeAndEvaluate(t.Context(), fp32, mode, d.X, d.Width())
		if err != nil {
			t.Fatal(err)
		}
		if len(int8) != rep.INT8Bytes || len(fp32) != rep.FP32Bytes {
			t.Errorf("%s: report of %d and %d bytes for files of %d and %d", mode, rep.FP32Bytes, rep.INT8Bytes, len(fp32), len(int8))
		}
		t.Logf("%s: %s", mode, rep)
		if mode == quantize.Modes[0] && (rep.MaxAbsDelta > maxTrainedDelta || rep.Rows != d.Len()) {
			t.Errorf("default mode %s: %s; want max |Δ| ≤ %g over all %d rows", mode, rep, maxTrainedDelta, d.Len())
		}
	}
}
