package inference

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
)

// Holder serves one model version at a time and swaps versions without failing or blocking
// a request: a call uses the model that was current when it started, and a replaced model is
// closed once its calls have ended. It is safe for concurrent use.
type Holder struct {
	cur atomic.Pointer[Model]
	log *slog.Logger
}

// NewHolder returns a Holder without a model; calls fail with ErrModelNotLoaded until Swap.
func NewHolder(log *slog.Logger) *Holder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Holder{log: log}
}

// Swap makes m the current model (nil unloads) and takes ownership of it. The previous model
// stops receiving new calls at once; Swap then waits for its calls in flight, closes it and
// returns the Close error. A model of another width is accepted: calls are checked against
// the model that serves them.
func (h *Holder) Swap(m *Model) error {
	old := h.cur.Swap(m)
	var from, to string
	if old != nil {
		from = old.meta.String()
	}
	if m != nil {
		to = m.meta.String()
	}
	if old != nil || m != nil {
		h.log.Info("model swapped", "from", from, "to", to)
	}
	if old == nil {
		return nil
	}
	if err := old.Close(); err != nil {
		return fmt.Errorf("close model %s: %w", old.meta, err)
	}
	return nil
}

// Close unloads and closes the current model.
func (h *Holder) Close() error { return h.Swap(nil) }

// Meta returns the metadata of the current model, false when there is none.
func (h *Holder) Meta() (Meta, bool) {
	m := h.cur.Load()
	if m == nil {
		return Meta{}, false
	}
	return m.meta, true
}

// Use calls fn with the current model, which stays open until fn returns: several calls
// inside fn use the same version, and fn can record which one (m.Meta()). fn must not call
// Swap or Close, which would wait for fn to return.
func (h *Holder) Use(fn func(m *Model) error) error {
	m, err := h.acquire()
	if err != nil {
		return err
	}
	defer m.release()
	return fn(m)
}

// Score scores rows with the current model; see Model.Score.
func (h *Holder) Score(ctx context.Context, rows [][]float32) ([]float32, error) {
	m, err := h.acquire()
	if err != nil {
		return nil, err
	}
	defer m.release()
	return m.scoreRows(ctx, rows)
}

// ScoreFlat scores flat rows with the current model; see Model.ScoreFlat.
func (h *Holder) ScoreFlat(ctx context.Context, x []float32, width int) ([]float32, error) {
	m, err := h.acquire()
	if err != nil {
		return nil, err
	}
	defer m.release()
	return m.scoreFlat(ctx, x, width)
}

// ScoreOne scores one row with the current model; see Model.ScoreOne.
func (h *Holder) ScoreOne(ctx context.Context, row []float32) (float32, error) {
	m, err := h.acquire()
	if err != nil {
		return 0, err
	}
	defer m.release()
	return m.scoreOne(ctx, row)
}

// acquire takes a reference on the current model. A model being replaced refuses new
// references only after the new one is current, so the retry finds the new one.
func (h *Holder) acquire() (*Model, error) {
	for {
		m := h.cur.Load()
		if m == nil {
			return nil, ErrModelNotLoaded
		}
		if m.acquire() {
			return m, nil
		}
		if h.cur.Load() == m {
			return nil, fmt.Errorf("model %s was closed while current: %w", m.meta, ErrModelClosed)
		}
	}
}
