package features

import (
	"strings"

	"github.com/apache/arrow/go/v17/arrow"

	"github.com/lambda-platform/lambda/internal/event"
)

// Folder folds events of any entities, in any order, into per-entity states. It is
// what the speed layer folds a batch of Kafka records with, and what the batch layer
// can use when its input is not sorted by entity. An event whose (entity_id,
// event_id) this Folder has already folded is skipped; events with an empty event_id
// are never treated as duplicates.
//
// A Folder is not safe for concurrent use.
type Folder struct {
	core
	entities map[string]*entry
}

type entry struct {
	id   string
	st   *State
	seen idSet
}

// NewFolder returns an empty Folder for spec.
func NewFolder(spec *Spec) *Folder {
	return &Folder{core: newCore(spec), entities: map[string]*entry{}}
}

// Add folds one event.
func (f *Folder) Add(e event.Event) {
	if !f.ok || e.EntityID != f.id {
		f.enter(e.EntityID)
	}
	f.addEvent(&e)
}

// AddRecord folds an Arrow record with EventSchema's columns. Rows of one entity need
// not be consecutive, but consecutive rows of one entity cost no map lookup.
func (f *Folder) AddRecord(rec arrow.Record) error {
	return f.addRecord(rec, nil, func(id string) error {
		f.enter(id)
		return nil
	})
}

func (f *Folder) enter(id string) {
	e := f.entities[id]
	if e == nil {
		e = &entry{id: strings.Clone(id), st: f.spec.NewState()}
		f.entities[e.id] = e
	}
	f.id, f.st, f.seen, f.ok = e.id, e.st, &e.seen, true
}

// Len returns the number of entities folded so far.
func (f *Folder) Len() int { return len(f.entities) }

// States returns the canonical state of every entity seen (including entities whose
// events were all excluded, which have the identity state). The states stay owned
// by the Folder: adding events afterwards changes them.
func (f *Folder) States() map[string]*State {
	out := make(map[string]*State, len(f.entities))
	for id, e := range f.entities {
		e.st.prune()
		out[id] = e.st
	}
	return out
}
