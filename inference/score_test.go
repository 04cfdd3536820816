package inference_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference"
)

func TestScoreMatchesPureGo(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, ref := range []reference{newLR(t, 1), newMLP(t, 2)} {
		for _, maxBatch := range []int{0, 50} { // 0: the default 4096
			m := load(t, ref, inference.Meta{Name: ref.name, Version: 1}, inference.Options{MaxBatch: maxBatch})
			for _, n := range []int{1, 7, 64, 4096 + 1} {
				t.Run(fmt.Sprintf("%s/max_batch=%d/rows=%d", ref.name, maxBatch, n), func(t *testing.T) {
					rows := randomRows(r, n)
					scores, err := m.Score(t.Context(), rows)
					if err != nil {
						t.Fatal(err)
					}
					checkScores(t, ref, rows, scores)

					flat, err := m.ScoreFlat(t.Context(), flatten(rows), width)
					if err != nil {
						t.Fatal(err)
					}
					checkScores(t, ref, rows, flat)

					for i, row := range rows[:min(n, 10)] {
						s, err := m.ScoreOne(t.Context(), row)
						if err != nil {
							t.Fatal(err)
						}
						checkScores(t, ref, rows[i:i+1], []float32{s})
					}
				})
			}
		}
	}
}

func TestScoreNoRows(t *testing.T) {
	m := load(t, newLR(t, 1), inference.Meta{Name: "lr"}, inference.Options{})
	scores, err := m.Score(t.Context(), nil)
	if err != nil || len(scores) != 0 {
		t.Fatalf("Score(nil) = %v, %v; want no scores, no error", scores, err)
	}
}

func TestScoreInputWidth(t *testing.T) {
	m := load(t, newLR(t, 1), inference.Meta{Name: "lr", Version: 3}, inference.Options{})
	rows := randomRows(rand.New(rand.NewPCG(1, 1)), 3)
	rows[2] = rows[2][:5]

	_, errRows := m.Score(t.Context(), rows)
	_, errWidth := m.ScoreFlat(t.Context(), make([]float32, 10), 5)
	_, errPartial := m.ScoreFlat(t.Context(), make([]float32, 17), width)
	_, errOne := m.ScoreOne(t.Context(), make([]float32, width+1))
	for _, c := range []struct {
		err  error
		want string
	}{
		{errRows, "model lr@3: row 2 has 5 features, want 16"},
		{errWidth, "rows have 5 features, want 16"},
		{errPartial, "17 values are not whole rows of 16 features"},
		{errOne, "row has 17 features, want 16"},
	} {
		if !errors.Is(c.err, inference.ErrInputWidth) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v; want ErrInputWidth saying %q", c.err, c.want)
		}
	}
}

func TestScoreWaitsForSession(t *testing.T) {
	ref := newLR(t, 1)
	m := load(t, ref, inference.Meta{Name: "lr"}, inference.Options{Sessions: 1})
	row := randomRows(rand.New(rand.NewPCG(1, 1)), 1)

	release := inference.HoldSession(m)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	if _, err := m.Score(ctx, row); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Score waiting for a busy session: %v, want context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := m.ScoreOne(ctx, row[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("ScoreOne with a cancelled context: %v, want context.Canceled", err)
	}

	done := make(chan error, 1)
	go func() {
		scores, err := m.Score(t.Context(), row)
		if err == nil && len(scores) != 1 {
			err = fmt.Errorf("%d scores", len(scores))
		}
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	release()
	if err := <-done; err != nil {
		t.Fatalf("Score after the session was returned: %v", err)
	}
}

func TestScoreClosedModel(t *testing.T) {
	m, err := inference.LoadModel(newLR(t, 1).onnx, inference.Meta{Name: "lr"}, inference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := m.ScoreOne(t.Context(), make([]float32, width)); !errors.Is(err, inference.ErrModelClosed) {
		t.Fatalf("ScoreOne after Close: %v, want ErrModelClosed", err)
	}
}
