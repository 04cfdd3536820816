package inference_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/lambda-platform/lambda/inference"
)

// TestRunMetrics checks that every run is observed once with its rows, and that two
// layers of one process share the metrics of one registry.
func TestRunMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	obs := inference.NewRunMetrics(reg)
	_ = inference.NewRunMetrics(reg) // another layer of the same process
	m := load(t, newLR(t, 1), inference.Meta{Name: "lr", Version: 1}, inference.Options{MaxBatch: 50, Observer: obs})
	rows := randomRows(rand.New(rand.NewPCG(1, 1)), 120) // runs of 50, 50 and 20 rows
	if _, err := m.Score(t.Context(), rows); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ScoreOne(t.Context(), rows[0]); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP lambda_inference_run_rows Rows computed by one ONNX Runtime run (its batch size, padding included), by model.
# TYPE lambda_inference_run_rows histogram
lambda_inference_run_rows_bucket{model="lr",le="1"} 1
lambda_inference_run_rows_bucket{model="lr",le="4"} 1
lambda_inference_run_rows_bucket{model="lr",le="16"} 1
lambda_inference_run_rows_bucket{model="lr",le="64"} 4
lambda_inference_run_rows_bucket{model="lr",le="256"} 4
lambda_inference_run_rows_bucket{model="lr",le="1024"} 4
lambda_inference_run_rows_bucket{model="lr",le="4096"} 4
lambda_inference_run_rows_bucket{model="lr",le="16384"} 4
lambda_inference_run_rows_bucket{model="lr",le="+Inf"} 4
lambda_inference_run_rows_sum{model="lr"} 121
lambda_inference_run_rows_count{model="lr"} 4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "lambda_inference_run_rows"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "lambda_inference_run_duration_seconds"); n != 1 {
		t.Errorf("duration series: %d, want 1", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}
