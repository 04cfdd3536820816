package train_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"

	"github.com/lambda-platform/lambda/inference/train"
)

func TestFitBeatsBaseRate(t *testing.T) {
	tr, ho := demoSplit(t)
	losses := map[train.Kind]float64{}
	for _, kind := range train.Kinds {
		r, err := train.Fit(t.Context(), tr, ho, train.Config{Kind: kind, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s in %v: train %+v, holdout %+v", kind, r.Took, r.Train, r.Holdout)
		h := r.Holdout
		if h.Rows != ho.Len() || h.Rows < 500 {
			t.Fatalf("%s: holdout has %d rows, want the %d of the split, at least 500", kind, h.Rows, ho.Len())
		}
		// The label is a logistic function of log counts; a model of the raw counts gets
		// most of it: far below the base rate's log-loss and a high AUC.
		if h.LogLoss > 0.75*h.BaseLogLoss || h.AUC < 0.85 {
			t.Errorf("%s: holdout log-loss %.4f (base rate %.4f), AUC %.3f; want ≤ 75%% of base and AUC ≥ 0.85",
				kind, h.LogLoss, h.BaseLogLoss, h.AUC)
		}
		losses[kind] = h.LogLoss
	}
	if losses[train.MLP] > losses[train.LogisticRegression] {
		t.Errorf("MLP holdout log-loss %.4f above LR's %.4f", losses[train.MLP], losses[train.LogisticRegression])
	}
}

func TestFitDeterministic(t *testing.T) {
	tr, ho := demoSplit(t)
	fit := func(seed uint64) []byte {
		r, err := train.Fit(t.Context(), tr, ho, train.Config{Kind: train.MLP, Hidden: []int{8, 4}, Epochs: 3, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.ONNX()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := fit(7), fit(7), fit(8)
	if !bytes.Equal(a, b) {
		t.Error("two fits with seed 7 export different models")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 7 and 8 export the same model")
	}
}

func TestFitErrors(t *testing.T) {
	tr, ho := demoSplit(t)
	if _, err := train.Fit(t.Context(), tr, ho, train.Config{Kind: "forest"}); !errors.Is(err, train.ErrUnknownKind) {
		t.Errorf("kind forest: %v, want ErrUnknownKind", err)
	}
	negatives := train.Dataset{Features: tr.Features, X: tr.X[:2*tr.Width()], Y: []float32{0, 0}}
	if _, err := train.Fit(t.Context(), negatives, ho, train.Config{}); !errors.Is(err, train.ErrNoData) {
		t.Errorf("only negatives: %v, want ErrNoData", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := train.Fit(ctx, tr, ho, train.Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

func TestAUC(t *testing.T) {
	for _, c := range []struct {
		p    []float64
		y    []float32
		want float64
	}{
		{[]float64{0.1, 0.4, 0.35, 0.8}, []float32{0, 0, 1, 1}, 0.75},
		{[]float64{0.1, 0.2, 0.3}, []float32{0, 1, 1}, 1},
		{[]float64{0.5, 0.5, 0.5, 0.5}, []float32{0, 1, 0, 1}, 0.5}, // ties count half
		{[]float64{0.9, 0.1}, []float32{0, 1}, 0},
	} {
		if got := train.AUC(c.p, c.y); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("AUC(%v, %v) = %v, want %v", c.p, c.y, got, c.want)
		}
	}
}
