package speedlayer

import (
	"context"
	"strconv"
	"time"

	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/speedlayer/delta"
)

// span is what one micro-batch holds of one partition.
type span struct {
	recs []delta.Record
	last record // the record with the highest offset
}

// prepared is a micro-batch folded and scored, ready to be written and committed.
type prepared struct {
	start    time.Time
	messages int
	model    Model
	rows     []Row
	offsets  map[int]int64 // per partition, the offset to commit
	hwm      map[int]int64 // per partition, the high watermark when last fetched
	times    []time.Time   // Kafka timestamps of the valid events
}

// prepare folds a micro-batch's valid records into their partitions' deltas,
// attaches the bases of entities seen for the first time and scores every touched
// entity in one call. Each step is retried until it succeeds or ctx ends.
func (s *session) prepare(ctx context.Context, batch []record) (*prepared, error) {
	p := &prepared{start: time.Now(), messages: len(batch), offsets: map[int]int64{}, hwm: map[int]int64{}}
	spans := map[int]*span{}
	for _, r := range batch {
		sp := spans[r.partition]
		if sp == nil {
			sp = &span{}
			spans[r.partition] = sp
		}
		sp.last = r
		if r.skip != "" {
			s.m.skipped.WithLabelValues(r.skip).Inc()
			continue
		}
		sp.recs = append(sp.recs, delta.Record{Offset: r.offset, Event: r.ev})
		if !r.time.IsZero() {
			p.times = append(p.times, r.time)
		}
	}
	var items []item
	for id, sp := range spans {
		pt := s.parts[id]
		ents := pt.live.Apply(sp.recs)
		pt.live.Advance(sp.last.offset)
		if pt.job != nil {
			pt.pending = append(pt.pending, sp.recs...)
		}
		if pt.next != nil {
			pt.next.Apply(sp.recs)
			pt.next.Advance(sp.last.offset)
		}
		for _, e := range ents {
			items = append(items, item{pt.live, e})
		}
		p.offsets[id], p.hwm[id] = sp.last.offset+1, sp.last.hwm
	}
	s.countEntities()
	if err := s.retry(ctx, stageBase, func() error { return s.attachBases(ctx, items) }); err != nil {
		return nil, err
	}
	var err error
	p.rows, p.model, err = s.scoredRows(ctx, items)
	return p, err
}

// write upserts a prepared micro-batch in one statement and then commits its
// offsets, each step retried until it succeeds or ctx ends.
func (s *session) write(ctx context.Context, p *prepared) error {
	err := s.upsert(ctx, p.model, p.rows)
	if err == nil {
		commit := map[string]map[int]int64{s.cfg.Topic: p.offsets}
		err = s.retry(ctx, stageCommit, func() error { return s.gen.CommitOffsets(commit) })
	}
	if err != nil {
		s.m.unflushed.Add(float64(p.messages))
		s.log.Info("micro-batch not committed", "messages", p.messages, "err", err)
		return err
	}
	now := time.Now()
	for id, off := range p.offsets {
		s.m.lag.WithLabelValues(strconv.Itoa(id)).Set(float64(max(0, p.hwm[id]-off)))
	}
	for _, t := range p.times {
		s.m.latency.Observe(now.Sub(t).Seconds())
	}
	s.m.events.Add(float64(len(p.times)))
	s.m.batch.Observe(now.Sub(p.start).Seconds())
	s.m.lastCommit.Set(float64(now.UnixNano()) / 1e9)
	return nil
}

// attachBases reads, for the entities that have none yet, their state in their
// delta's batch run, a few lookups per run; an entity the run has no row for gets
// the identity. A published run never changes, so each entity's base is read once.
func (s *session) attachBases(ctx context.Context, items []item) error {
	byRun := map[int64][]item{}
	for _, it := range items {
		if !it.e.HasBase() {
			id := it.d.Run().ID
			byRun[id] = append(byRun[id], it)
		}
	}
	for runID, its := range byRun {
		for len(its) > 0 {
			chunk := its[:min(len(its), baseChunk)]
			its = its[len(chunk):]
			var states map[string][]byte
			if runID != 0 {
				ids := make([]string, len(chunk))
				for i, it := range chunk {
					ids[i] = it.e.ID()
				}
				var err error
				if states, err = s.deps.Bases.States(ctx, runID, ids); err != nil {
					return err
				}
			}
			for _, it := range chunk {
				var base *features.State
				if b, ok := states[it.e.ID()]; ok {
					var err error
					if base, err = s.spec.Decode(b); err != nil {
						return err
					}
				}
				if err := it.d.SetBase(it.e, base); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// scoredRows builds the rows of items and scores them in one call. Entities without
// a feature-relevant event (base and delta both empty) get no row, as in the batch
// view. When the scorer answers with another model than before, every delta is
// written again after this batch (flush), so that no row is left on the old one.
func (s *session) scoredRows(ctx context.Context, items []item) ([]Row, Model, error) {
	width := s.spec.Len()
	rows := make([]Row, 0, len(items))
	x := make([]float32, 0, len(items)*width)
	var states []byte
	var ends []int
	for _, it := range items {
		full := it.e.Full()
		newest, ok := full.Newest()
		if !ok {
			continue
		}
		asOf := it.e.AsOf()
		rows = append(rows, Row{
			EntityID:      it.e.ID(),
			BaseRunID:     it.d.Run().ID,
			Partition:     it.d.Partition(),
			CoveredOffset: it.e.Covered(),
			LastEventAt:   newest,
			AsOf:          asOf,
		})
		x = full.AppendVector(x, asOf)
		states, _ = it.e.Delta().AppendBinary(states) // never fails
		ends = append(ends, len(states))
	}
	if len(rows) == 0 {
		return nil, s.model, nil
	}
	prev := 0
	for i, end := range ends {
		rows[i].DeltaState = states[prev:end:end]
		prev = end
	}
	var (
		scores []float32
		model  Model
	)
	err := s.retry(ctx, stageScore, func() (err error) {
		scores, model, err = s.deps.Scorer.Score(ctx, x, width)
		return err
	})
	if err != nil {
		return nil, Model{}, err
	}
	if scores != nil {
		for i := range rows {
			rows[i].Vector, rows[i].Score = x[i*width:(i+1)*width:(i+1)*width], scores[i]
		}
	}
	if s.modelSet && model != s.model {
		s.rescore = true
	}
	s.model, s.modelSet = model, true
	return rows, model, nil
}

// upsert writes rows in one statement, retried until it succeeds or ctx ends.
func (s *session) upsert(ctx context.Context, model Model, rows []Row) error {
	if len(rows) == 0 {
		return nil
	}
	err := s.retry(ctx, stageUpsert, func() error {
		_, err := s.deps.View.Upsert(ctx, model, rows)
		return err
	})
	if err == nil {
		s.m.rows.Add(float64(len(rows)))
	}
	return err
}
