package features

import (
	"fmt"
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lambda-platform/lambda/internal/event"
)

// Stream folds input sorted by entity_id (byte order, as ClickHouse ORDER BY
// entity_id returns it) and hands each entity's canonical state to emit as soon as
// the entity's rows end, so memory stays bounded by one entity whatever the input
// size. This is the batch layer's fold. Duplicates are detected per entity over the
// whole stream (all of an entity's rows are consecutive). Rows out of entity order
// fail with ErrNotSorted.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	core
	seenSet idSet
	emit    func(entityID string, st *State) error
}

// NewStream returns a Stream for spec that passes finished entities to emit; the
// State passed to emit is the callee's to keep.
func NewStream(spec *Spec, emit func(entityID string, st *State) error) *Stream {
	s := &Stream{core: newCore(spec), emit: emit}
	s.seen = &s.seenSet
	return s
}

// Add folds one event.
func (s *Stream) Add(e event.Event) error {
	if !s.ok || e.EntityID != s.id {
		if err := s.enter(e.EntityID); err != nil {
			return err
		}
	}
	s.addEvent(&e)
	return nil
}

// AddRows folds the rows of an Arrow record with EventSchema's columns whose indexes
// rows lists, in that order, or every row in record order when rows is nil; over all
// calls the rows must come sorted by entity_id.
func (s *Stream) AddRows(rec arrow.Record, rows []int32) error {
	return s.addRecord(rec, rows, s.enter)
}

// Close emits the last entity. The Stream must not be used afterwards.
func (s *Stream) Close() error { return s.flush() }

func (s *Stream) enter(id string) error {
	if s.ok && id < s.id {
		return fmt.Errorf("entity %q after %q: %w", id, s.id, ErrNotSorted)
	}
	if err := s.flush(); err != nil {
		return err
	}
	s.id, s.st, s.ok = strings.Clone(id), s.spec.NewState(), true
	s.seenSet.reset()
	return nil
}

func (s *Stream) flush() error {
	if !s.ok {
		return nil
	}
	s.ok = false
	s.st.prune()
	if err := s.emit(s.id, s.st); err != nil {
		return fmt.Errorf("emit entity %q: %w", s.id, err)
	}
	return nil
}
