package inference_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference"
)

func TestHolderNotLoaded(t *testing.T) {
	h := inference.NewHolder(nil)
	if _, err := h.ScoreOne(t.Context(), make([]float32, width)); !errors.Is(err, inference.ErrModelNotLoaded) {
		t.Fatalf("ScoreOne without a model: %v, want ErrModelNotLoaded", err)
	}
	if _, ok := h.Meta(); ok {
		t.Fatal("Meta reports a model before Swap")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestHolderHotSwap swaps between two models many times under concurrent load: no call fails,
// and every call's scores are all those of one of the two models.
func TestHolderHotSwap(t *testing.T) {
	refs := [2]reference{newLR(t, 1), newMLP(t, 2)}
	rows := randomRows(rand.New(rand.NewPCG(5, 5)), 300)
	opts := inference.Options{Sessions: 2, MaxBatch: 64} // calls of more than 64 rows take several runs

	h := inference.NewHolder(nil)
	defer h.Close()
	loadVersion := func(v int) *inference.Model {
		m, err := inference.LoadModel(refs[v%2].onnx, inference.Meta{Name: "swap", Version: int64(v)}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if err := h.Swap(loadVersion(0)); err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(t.Context())
	var (
		wg     sync.WaitGroup
		served [2]atomic.Int64 // calls answered by each model
		failed atomic.Int64
		errMu  sync.Mutex
		errs   []error
	)
	fail := func(err error) {
		if failed.Add(1) <= 5 {
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
		}
	}
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for ctx.Err() == nil {
				first := r.IntN(len(rows))
				batch := rows[first : first+1+r.IntN(len(rows)-first)]
				var scores []float32
				var err error
				switch r.IntN(3) {
				case 0:
					scores, err = h.Score(t.Context(), batch)
				case 1:
					scores, err = h.ScoreFlat(t.Context(), flatten(batch), width)
				default:
					var s float32
					batch = batch[:1]
					s, err = h.ScoreOne(t.Context(), batch[0])
					scores = []float32{s}
				}
				if err != nil {
					fail(err)
					continue
				}
				which, err := servedBy(refs, batch, scores)
				if err != nil {
					fail(err)
					continue
				}
				served[which].Add(1)
			}
		})
	}

	const swaps = 60
	for v := 1; v <= swaps; v++ {
		next := loadVersion(v)
		var old *inference.Model
		_ = h.Use(func(m *inference.Model) error { old = m; return nil })
		if err := h.Swap(next); err != nil {
			t.Fatalf("swap to version %d: %v", v, err)
		}
		if _, err := old.ScoreOne(t.Context(), rows[0]); !errors.Is(err, inference.ErrModelClosed) {
			t.Fatalf("replaced version %d still scores after Swap returned: %v", v-1, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop()
	wg.Wait()

	if n := failed.Load(); n > 0 {
		t.Fatalf("%d failed calls during %d swaps, first: %v", n, swaps, errors.Join(errs...))
	}
	t.Logf("%d swaps; calls served by %s: %d, by %s: %d", swaps, refs[0].name, served[0].Load(), refs[1].name, served[1].Load())
	if served[0].Load() == 0 || served[1].Load() == 0 {
		t.Fatal("one of the models served no call")
	}
	if meta, ok := h.Meta(); !ok || meta.Version != swaps {
		t.Fatalf("current model %v, %v; want version %d", meta, ok, swaps)
	}
}

// servedBy says which model produced all of a call's scores, or fails if no single one did.
func servedBy(refs [2]reference, rows [][]float32, scores []float32) (int, error) {
	if len(scores) != len(rows) {
		return 0, fmt.Errorf("%d scores for %d rows", len(scores), len(rows))
	}
	for which, ref := range refs {
		all := true
		for i, row := range rows {
			if math.Abs(float64(scores[i]-ref.predict(row))) > tol {
				all = false
				break
			}
		}
		if all {
			return which, nil
		}
	}
	return 0, fmt.Errorf("scores of %d rows match neither model (first score %v)", len(rows), scores[0])
}

func TestHolderUse(t *testing.T) {
	ref := newMLP(t, 3)
	m, err := inference.LoadModel(ref.onnx, inference.Meta{Name: "mlp", Version: 7}, inference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := inference.NewHolder(nil)
	defer h.Close()
	if err := h.Swap(m); err != nil {
		t.Fatal(err)
	}
	rows := randomRows(rand.New(rand.NewPCG(1, 1)), 5)
	err = h.Use(func(m *inference.Model) error {
		if v := m.Meta().Version; v != 7 {
			return fmt.Errorf("version %d, want 7", v)
		}
		scores, err := m.Score(t.Context(), rows)
		if err == nil {
			checkScores(t, ref, rows, scores)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
