package inference

import (
	"context"
	"fmt"
	"time"
)

// Score returns one score per row. Every row must have Width features. Inputs larger than
// the maximum batch are split into several runs, each on whichever session is free; a call
// waiting for a session returns ctx.Err() when ctx ends.
func (m *Model) Score(ctx context.Context, rows [][]float32) ([]float32, error) {
	if !m.acquire() {
		return nil, fmt.Errorf("model %s: %w", m.meta, ErrModelClosed)
	}
	defer m.release()
	return m.scoreRows(ctx, rows)
}

// ScoreFlat scores rows stored one after the other in x, width values each.
func (m *Model) ScoreFlat(ctx context.Context, x []float32, width int) ([]float32, error) {
	if !m.acquire() {
		return nil, fmt.Errorf("model %s: %w", m.meta, ErrModelClosed)
	}
	defer m.release()
	return m.scoreFlat(ctx, x, width)
}

// ScoreOne scores a single row on the shortest path: one run of one row, no result slice.
func (m *Model) ScoreOne(ctx context.Context, row []float32) (float32, error) {
	if !m.acquire() {
		return 0, fmt.Errorf("model %s: %w", m.meta, ErrModelClosed)
	}
	defer m.release()
	return m.scoreOne(ctx, row)
}

func (m *Model) scoreRows(ctx context.Context, rows [][]float32) ([]float32, error) {
	w := m.sig.width
	for i, r := range rows {
		if len(r) != w {
			return nil, fmt.Errorf("model %s: row %d has %d features, want %d: %w", m.meta, i, len(r), w, ErrInputWidth)
		}
	}
	return m.scoreChunks(ctx, len(rows), func(in []float32, first, n int) {
		for i, r := range rows[first : first+n] {
			copy(in[i*w:], r)
		}
	})
}

func (m *Model) scoreFlat(ctx context.Context, x []float32, width int) ([]float32, error) {
	w := m.sig.width
	if width != w {
		return nil, fmt.Errorf("model %s: rows have %d features, want %d: %w", m.meta, width, w, ErrInputWidth)
	}
	if len(x)%w != 0 {
		return nil, fmt.Errorf("model %s: %d values are not whole rows of %d features: %w", m.meta, len(x), w, ErrInputWidth)
	}
	return m.scoreChunks(ctx, len(x)/w, func(in []float32, first, n int) {
		copy(in, x[first*w:(first+n)*w])
	})
}

func (m *Model) scoreOne(ctx context.Context, row []float32) (float32, error) {
	if len(row) != m.sig.width {
		return 0, fmt.Errorf("model %s: row has %d features, want %d: %w", m.meta, len(row), m.sig.width, ErrInputWidth)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s, err := m.pool.get(ctx)
	if err != nil {
		return 0, err
	}
	defer m.pool.put(s)
	copy(s.in, row)
	out, err := m.run(s, m.runRows(1))
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", m.meta, err)
	}
	return out[0], nil
}

// scoreChunks scores rows in runs of at most maxBatch rows; fill copies rows
// [first, first+n) into a session's input buffer.
func (m *Model) scoreChunks(ctx context.Context, rows int, fill func(in []float32, first, n int)) ([]float32, error) {
	scores := make([]float32, rows)
	for first := 0; first < rows; first += m.maxBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := min(m.maxBatch, rows-first)
		s, err := m.pool.get(ctx)
		if err != nil {
			return nil, err
		}
		fill(s.in, first, n)
		out, err := m.run(s, m.runRows(n))
		if err == nil {
			copy(scores[first:], out[:n])
		}
		m.pool.put(s)
		if err != nil {
			return nil, fmt.Errorf("model %s: rows %d-%d: %w", m.meta, first, first+n-1, err)
		}
	}
	return scores, nil
}

// run runs the model on a session's first rows input rows, timed for the observer.
func (m *Model) run(s *slot, rows int) ([]float32, error) {
	if m.observer == nil {
		return s.run(rows)
	}
	start := time.Now()
	out, err := s.run(rows)
	m.observer.ObserveRun(m.meta.Name, rows, time.Since(start))
	return out, err
}

// runRows is the number of rows a run computes for n input rows: n, or the fixed batch size
// of a model that has one (the extra rows are padding whose scores are dropped).
func (m *Model) runRows(n int) int {
	if m.sig.batch > 0 {
		return m.sig.batch
	}
	return n
}
