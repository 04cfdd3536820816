package batchrun

import (
	"context"
	"time"

	"github.com/lambda-platform/lambda/batchlayer/view"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
)

// scorer takes the states a fold emits, scores them batch rows at a time and hands
// the rows to a view writer. It is not safe for concurrent use.
type scorer struct {
	model    Model
	width    int
	batch    int
	cutoff   master.Cutoff
	asOf     time.Time
	w        *view.Writer
	progress func(scored, written int64)

	ids    []string
	newest []time.Time
	ends   []int // end of each state in states
	states []byte
	x      []float32 // vectors, width values each
}

func newScorer(m Model, width, batch int, cutoff master.Cutoff, w *view.Writer,
	progress func(scored, written int64)) *scorer {
	return &scorer{model: m, width: width, batch: batch, cutoff: cutoff, asOf: w.Run().AsOf, w: w, progress: progress,
		x: make([]float32, 0, batch*width)}
}

// add takes one entity's state; an empty state (every event excluded) gets no row.
func (s *scorer) add(ctx context.Context, id string, st *features.State) error {
	newest, ok := st.Newest()
	if !ok {
		return nil
	}
	s.ids = append(s.ids, id)
	s.newest = append(s.newest, newest)
	s.states, _ = st.AppendBinary(s.states) // never fails
	s.ends = append(s.ends, len(s.states))
	s.x = st.AppendVector(s.x, s.asOf)
	if len(s.ids) >= s.batch {
		return s.flush(ctx)
	}
	return nil
}

// flush scores the collected entities and passes their rows to the writer, which
// inserts them once it holds enough.
func (s *scorer) flush(ctx context.Context) error {
	if len(s.ids) == 0 {
		return nil
	}
	scores, err := s.model.ScoreFlat(ctx, s.x, s.width)
	if err != nil {
		return staged(reasonScore, err)
	}
	before := s.w.Written()
	start := 0
	for i, id := range s.ids {
		p := kafka.PartitionFor([]byte(id), len(s.cutoff.Offsets))
		err := s.w.Add(ctx, view.Row{
			EntityID: id, KafkaPartition: int32(p), CoveredOffset: s.cutoff.Offsets[p], LastEvent: s.newest[i],
			State: s.states[start:s.ends[i]], Vector: s.x[i*s.width : (i+1)*s.width], Score: scores[i],
		})
		if err != nil {
			return staged(reasonWrite, err)
		}
		start = s.ends[i]
	}
	s.progress(int64(len(s.ids)), s.w.Written()-before)
	s.ids, s.newest, s.ends, s.states, s.x = s.ids[:0], s.newest[:0], s.ends[:0], s.states[:0], s.x[:0]
	return nil
}
