package quantize_test

import (
	"testing"

	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/train"
	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/features"
)

// maxTrainedDelta bounds |int8 - fp32| of the trained MLPs' scores (probabilities), in
// every mode.
const maxTrainedDelta = 0.03

// TestTrainedMLP quantises the MLPs `lambda model train` trains, --hidden small (the
// default) and large, and scores every row of their dataset, raw feature vectors of demo
// entities with their heavy tails, on the real runtime. The large one is the model worth
// shrinking: at least 100 KB in fp32, at most 30% of that in int8.
func TestTrainedMLP(t *testing.T) {
	d, err := train.Demo(features.DefaultSpec(), demogen.Config{Seed: 1}, train.DefaultDemoEvents)
	if err != nil {
		t.Fatal(err)
	}
	tr, ho := d.Split(0.2)
	for size, hidden := range map[string][]int{"small": train.SmallHidden, "large": train.LargeHidden} {
		r, err := train.Fit(t.Context(), tr, ho, train.Config{Kind: train.MLP, Hidden: hidden, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		fp32, err := r.ONNX()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %v: trained in %v, holdout AUC %.4f", size, hidden, r.Took, r.Holdout.AUC)
		for _, mode := range quantize.Modes {
			int8, rep, err := quantize.QuantizeAndEvaluate(t.Context(), fp32, mode, d.X, d.Width())
			if err != nil {
				t.Fatal(err)
			}
			if len(int8) != rep.INT8Bytes || len(fp32) != rep.FP32Bytes {
				t.Errorf("%s %s: report of %d and %d bytes for files of %d and %d", size, mode, rep.FP32Bytes, rep.INT8Bytes, len(fp32), len(int8))
			}
			t.Logf("%s %s: %s", size, mode, rep)
			if rep.MaxAbsDelta > maxTrainedDelta || rep.Rows != d.Len() || rep.Rows < 1000 {
				t.Errorf("%s %s: %s; want max |Δ| ≤ %g over all %d rows", size, mode, rep, maxTrainedDelta, d.Len())
			}
			if size == "large" && (rep.FP32Bytes < 100_000 || float64(rep.INT8Bytes) > 0.30*float64(rep.FP32Bytes)) {
				t.Errorf("large %s: %s; want fp32 ≥ 100 KB and int8 ≤ 30%% of it", mode, rep)
			}
		}
	}
}
