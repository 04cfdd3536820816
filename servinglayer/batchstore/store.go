package batchstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"time"

	"github.com/lambda-platform/lambda/internal/runs"
	"github.com/lambda-platform/lambda/internal/views"
)

// ErrInconsistent: a run's rows disagree on what is the same for the whole run (the
// model, as_of, the vector width) or repeat an entity.
var ErrInconsistent = errors.New("inconsistent batch view")

// Source reads a run's batch view in bulk (*views.Batch is one).
type Source interface {
	Scan(ctx context.Context, runID int64, f views.Fields, fn func(*views.Record) error) error
}

// Store is one published run's batch view, immutable once loaded, safe for
// concurrent reads.
type Store struct {
	run          runs.Run
	asOf         time.Time
	modelName    string
	modelVersion int64
	width        int // vector entries per row

	seed   maphash.Seed
	slots  []uint32 // row number + 1, 0 for an empty slot; len is a power of two
	ids    []byte   // the entity ids, back to back
	idEnds []uint32 // row i's id is ids[idEnds[i-1]:idEnds[i]]
	part   []int32
	offset []int64
	last   []int64 // last event, unix microseconds
	score  []float32
	vector []float32 // width entries per row
}

// Load reads run's batch view from src into a new Store. It reads every row before it
// returns, so the caller can swap the store in at once.
func Load(ctx context.Context, src Source, run runs.Run) (*Store, error) {
	s := &Store{run: run, seed: maphash.MakeSeed()}
	hint := int(min(max(run.RowsWritten, 0), 1<<31)) // an upper bound: retried writes repeat rows
	s.idEnds, s.part, s.offset = make([]uint32, 0, hint), make([]int32, 0, hint), make([]int64, 0, hint)
	s.last, s.score = make([]int64, 0, hint), make([]float32, 0, hint)
	first := true
	err := src.Scan(ctx, run.ID, views.Scores, func(r *views.Record) error {
		if first {
			first = false
			s.asOf, s.modelName, s.modelVersion, s.width = r.AsOf, r.ModelName, r.ModelVersion, len(r.Vector)
			s.vector = make([]float32, 0, hint*s.width)
		}
		return s.add(r)
	})
	if err != nil {
		return nil, fmt.Errorf("load batch view of run %d: %w", run.ID, err)
	}
	if len(s.ids) > 1<<32-1 {
		return nil, fmt.Errorf("load batch view of run %d: %d bytes of entity ids, more than a store holds", run.ID, len(s.ids))
	}
	if err := s.index(); err != nil {
		return nil, fmt.Errorf("load batch view of run %d: %w", run.ID, err)
	}
	return s, nil
}

// add appends r as the next row.
func (s *Store) add(r *views.Record) error {
	switch {
	case len(r.Vector) != s.width:
		return fmt.Errorf("%w: entity %q has %d vector entries, another %d", ErrInconsistent, r.EntityID, len(r.Vector), s.width)
	case r.ModelName != s.modelName || r.ModelVersion != s.modelVersion:
		return fmt.Errorf("%w: entity %q was scored by %s@%d, another by %s@%d", ErrInconsistent, r.EntityID,
			r.ModelName, r.ModelVersion, s.modelName, s.modelVersion)
	case !r.AsOf.Equal(s.asOf):
		return fmt.Errorf("%w: entity %q is as of %s, another as of %s", ErrInconsistent, r.EntityID, r.AsOf, s.asOf)
	}
	s.ids = append(s.ids, r.EntityID...)
	s.idEnds = append(s.idEnds, uint32(len(s.ids)))
	s.part = append(s.part, r.Partition)
	s.offset = append(s.offset, r.Offset)
	s.last = append(s.last, r.LastEvent.UnixMicro())
	s.score = append(s.score, r.Score)
	s.vector = append(s.vector, r.Vector...)
	return nil
}

// index builds the hash table over every row.
func (s *Store) index() error {
	n := len(s.idEnds)
	s.slots = make([]uint32, 1<<bits.Len(uint(max(2*n-1, 1)))) // ≥ 2n: at most half full
	mask := uint64(len(s.slots) - 1)
	for row := range n {
		id := s.id(row)
		for i := maphash.Bytes(s.seed, id) & mask; ; i = (i + 1) & mask {
			if s.slots[i] == 0 {
				s.slots[i] = uint32(row + 1)
				break
			}
			if string(s.id(int(s.slots[i]-1))) == string(id) {
				return fmt.Errorf("%w: entity %q has two rows", ErrInconsistent, id)
			}
		}
	}
	return nil
}

func (s *Store) id(row int) []byte {
	start := uint32(0)
	if row > 0 {
		start = s.idEnds[row-1]
	}
	return s.ids[start:s.idEnds[row]]
}

// find returns id's row number, false when the run has no row for it.
func (s *Store) find(id string) (int, bool) {
	mask := uint64(len(s.slots) - 1)
	for i := maphash.String(s.seed, id) & mask; ; i = (i + 1) & mask {
		slot := s.slots[i]
		if slot == 0 {
			return 0, false
		}
		if string(s.id(int(slot-1))) == id {
			return int(slot - 1), true
		}
	}
}

// Get returns the run's row of id, false when the run has none. The row's Vector is
// the store's memory: read it, never write it.
func (s *Store) Get(id string) (views.BatchRow, bool) {
	row, ok := s.find(id)
	if !ok {
		return views.BatchRow{}, false
	}
	return views.BatchRow{
		EntityID: id, RunID: s.run.ID,
		Coverage: views.Coverage{Partition: s.part[row], Offset: s.offset[row], LastEvent: time.UnixMicro(s.last[row]).UTC()},
		AsOf:     s.asOf, Score: s.score[row], ModelName: s.modelName, ModelVersion: s.modelVersion,
		Vector: slices.Clip(s.vector[row*s.width : (row+1)*s.width]),
	}, true
}

// Run is the run whose view the store holds.
func (s *Store) Run() runs.Run { return s.run }

// Len is the number of entities in the store.
func (s *Store) Len() int { return len(s.idEnds) }

// Bytes is the memory the store holds.
func (s *Store) Bytes() int64 {
	return int64(4*cap(s.slots) + cap(s.ids) + 4*cap(s.idEnds) + 4*cap(s.part) + 8*cap(s.offset) + 8*cap(s.last) +
		4*cap(s.score) + 4*cap(s.vector))
}
