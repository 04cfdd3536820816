package delta

import (
	"fmt"
	"hash/maphash"
	"iter"
	"maps"
	"math"
	"time"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// Run is the batch run a Partition's deltas are based on.
type Run struct {
	// ID is the run id; 0 means no run is published and every base is the identity.
	ID int64
	// Cutoff is the highest offset of the partition the run includes (-1: none).
	Cutoff int64
	// AsOf is the run's as_of, the newest event time it includes (zero: none).
	AsOf time.Time
}

// Equal reports whether r and o are the same run with the same cutoff and as_of.
func (r Run) Equal(o Run) bool {
	return r.ID == o.ID && r.Cutoff == o.Cutoff && r.AsOf.Equal(o.AsOf)
}

// Record is a valid event and its offset in the partition.
type Record struct {
	Offset int64
	Event  event.Event
}

// Partition is the delta of one Kafka partition under one batch run. It is not safe
// for concurrent use.
type Partition struct {
	spec      *features.Spec
	adder     *features.Adder
	partition int
	run       Run
	pos       int64
	wm        int64 // watermark, unix µs
	seeds     [4]maphash.Seed
	seen      map[[2]uint64]struct{}
	entities  map[string]*Entity
	batch     uint64 // number of the current Apply call, marks touched entities
}

// Entity is one entity's delta and merged state; see the package doc.
type Entity struct {
	id      string
	key     [2]uint64 // entityKey(id)
	covered int64
	asOf    int64 // unix µs
	delta   *features.State
	full    *features.State
	batch   uint64
}

// New returns the empty delta of partition under run: it covers nothing after the
// run's cutoff yet. It folds with spec.Speed().
func New(spec *features.Spec, partition int, run Run) *Partition {
	wm := int64(math.MinInt64)
	if !run.AsOf.IsZero() {
		wm = run.AsOf.UnixMicro()
	}
	speed := spec.Speed()
	return &Partition{
		spec:      speed,
		adder:     speed.NewAdder(),
		partition: partition,
		run:       run,
		pos:       run.Cutoff,
		wm:        wm,
		seeds:     [4]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed(), maphash.MakeSeed(), maphash.MakeSeed()},
		seen:      map[[2]uint64]struct{}{},
		entities:  map[string]*Entity{},
	}
}

// Partition returns the Kafka partition.
func (p *Partition) Partition() int { return p.partition }

// Run returns the batch run the deltas are based on.
func (p *Partition) Run() Run { return p.run }

// Pos returns the last offset applied (the run's cutoff when nothing was).
func (p *Partition) Pos() int64 { return p.pos }

// Len returns the number of entities with records in the delta.
func (p *Partition) Len() int { return len(p.entities) }

// Entities returns every entity with records in the delta, in no particular order.
func (p *Partition) Entities() iter.Seq[*Entity] { return maps.Values(p.entities) }

// Apply folds the records after Pos(), which must come in offset order, and returns
// the entities they touched, each once. Records at or below Pos() are skipped. Each
// new event is folded straight into its entity's delta and, once the base is set,
// its merged state (fold(delta ∪ e) = delta ⊕ fold(e), and the same for base ⊕ delta).
func (p *Partition) Apply(recs []Record) []*Entity {
	p.batch++
	var touched []*Entity
	for i := range recs {
		r := &recs[i]
		if r.Offset <= p.pos {
			continue
		}
		p.pos = r.Offset
		p.wm = max(p.wm, r.Event.TS.UnixMicro())
		e := p.entities[r.Event.EntityID]
		if e == nil {
			e = &Entity{id: r.Event.EntityID, key: p.entityKey(r.Event.EntityID), delta: p.spec.NewState()}
			p.entities[e.id] = e
		}
		e.covered, e.asOf = r.Offset, p.wm
		if e.batch != p.batch {
			e.batch = p.batch
			touched = append(touched, e)
		}
		if !p.firstSeen(e, r.Event.EventID) {
			continue // a copy of an event folded already (here or by the batch run)
		}
		if e.full != nil {
			p.adder.Add(&r.Event, e.delta, e.full)
		} else {
			p.adder.Add(&r.Event, e.delta)
		}
	}
	for _, e := range touched {
		e.delta.Settle()
		if e.full != nil {
			e.full.Settle()
		}
	}
	return touched
}

// Advance records that every offset up to offset was seen: records at or below it
// that Apply was not given (invalid messages) are not waited for.
func (p *Partition) Advance(offset int64) { p.pos = max(p.pos, offset) }

// Prime records an event the batch run already folded, so that a copy of it after
// the cutoff (a producer retry under a new offset) is not folded again.
func (p *Partition) Prime(entityID, eventID string) {
	p.seen[p.key(p.entityKey(entityID), eventID)] = struct{}{}
}

// firstSeen records the event's (entity_id, event_id) and reports whether it is new.
func (p *Partition) firstSeen(e *Entity, eventID string) bool {
	key := p.key(e.key, eventID)
	if _, dup := p.seen[key]; dup {
		return false
	}
	p.seen[key] = struct{}{}
	return true
}

// entityKey hashes an entity id with two independent seeds.
func (p *Partition) entityKey(id string) [2]uint64 {
	return [2]uint64{maphash.String(p.seeds[0], id), maphash.String(p.seeds[1], id)}
}

// key is the 128-bit key of an (entity, event id) pair: each half combines
// independently seeded hashes of both ids, so two pairs share a key only if both
// halves collide.
func (p *Partition) key(entity [2]uint64, eventID string) [2]uint64 {
	return [2]uint64{entity[0] ^ maphash.String(p.seeds[2], eventID), entity[1] ^ maphash.String(p.seeds[3], eventID)}
}

// SetBase attaches the entity's base state from the batch run (nil: the identity),
// a state of the exact spec or of its speed variant, which the Partition then owns.
func (p *Partition) SetBase(e *Entity, base *features.State) error {
	if base == nil {
		base = p.spec.NewState()
	} else {
		base = base.ToSpeed()
	}
	if e.delta != nil {
		if err := base.Merge(e.delta); err != nil {
			return fmt.Errorf("partition %d entity %q: merge base: %w", p.partition, e.id, err)
		}
	}
	e.full = base
	return nil
}

// ID returns the entity id.
func (e *Entity) ID() string { return e.id }

// Covered returns the offset of the entity's last record applied.
func (e *Entity) Covered() int64 { return e.covered }

// AsOf returns the time the entity's vector is taken at; see the package doc.
func (e *Entity) AsOf() time.Time { return time.UnixMicro(e.asOf).UTC() }

// Delta returns the fold of the entity's records in the delta.
func (e *Entity) Delta() *features.State { return e.delta }

// HasBase reports whether SetBase was called.
func (e *Entity) HasBase() bool { return e.full != nil }

// Full returns base ⊕ Delta, nil before SetBase.
func (e *Entity) Full() *features.State { return e.full }
