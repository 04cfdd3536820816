package speedlayer

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// served is what the speed layer answered for an entity's approximate features
// (features.Spec.Approximate order).
type served struct {
	id   string
	vals []float32
}

// measureApprox compares, when run takes over from old's run, the approximate
// features the speed layer served with run's exact answer, for the entities of old
// whose every record run includes (covered offset at or below its cutoff): both
// cover the same events, so the difference is the approximation's alone. The batch
// view is read in the background; a failed read only loses the observations.
func (s *session) measureApprox(ctx context.Context, old *delta.Partition, run delta.Run) {
	approx := s.spec.Approximate()
	if len(approx) == 0 || run.ID == 0 || old.Run().ID == run.ID {
		return
	}
	var seen []served
	var vec []float32
	for e := range old.Entities() {
		if !e.HasBase() || e.Covered() > run.Cutoff || e.Full().IsEmpty() {
			continue
		}
		vec = e.Full().AppendVector(vec[:0], e.AsOf())
		sv := served{id: e.ID(), vals: make([]float32, len(approx))}
		for i, f := range approx {
			sv.vals[i] = vec[f]
		}
		seen = append(seen, sv)
	}
	if len(seen) == 0 {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.compareApprox(ctx, run.ID, run.AsOf, seen); err != nil && ctx.Err() == nil {
			s.log.Warn("compare approximate features with the batch run", "partition", old.Partition(), "run", run.ID, "err", err)
		}
	}()
}

// compareApprox reads run's exact states of the entities seen and observes each
// approximate feature's relative error |served − exact| / max(exact, 1).
func (s *session) compareApprox(ctx context.Context, runID int64, asOf time.Time, seen []served) error {
	approx, names := s.spec.Approximate(), s.spec.FeatureNames()
	obs := make([]prometheus.Observer, len(approx))
	for i, f := range approx {
		obs[i] = s.m.approxErr.WithLabelValues(names[f])
	}
	empty := s.spec.NewState().Vector(asOf)
	var buf []float32
	for chunk := range slices.Chunk(seen, baseChunk) {
		ids := make([]string, len(chunk))
		for i, sv := range chunk {
			ids[i] = sv.id
		}
		states, err := s.deps.Bases.States(ctx, runID, ids)
		if err != nil {
			return err
		}
		for _, sv := range chunk {
			vec := empty // the run has no row: nothing it folded matched
			if b, ok := states[sv.id]; ok {
				st, err := s.spec.Decode(b)
				if err != nil {
					return err
				}
				buf = st.AppendVector(buf[:0], asOf)
				vec = buf
			}
			for i, f := range approx {
				exact := float64(vec[f])
				obs[i].Observe(math.Abs(float64(sv.vals[i])-exact) / max(exact, 1))
			}
		}
	}
	return nil
}
