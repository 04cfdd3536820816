package features_test

import (
	"cmp"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"
	"github.com/apache/arrow/go/v17/arrow/memory"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
)

// TestRecordFoldMatchesEvents checks that the vectorised Arrow folds agree exactly
// with the per-event fold: Folder.AddRecord on the log in arrival order, and Stream on
// the log sorted by entity (stable, as ClickHouse ORDER BY entity_id, offset would
// return it), both cut into records of random sizes, some of them slices.
func TestRecordFoldMatchesEvents(t *testing.T) {
	for name, spec := range specs(t) {
		t.Run(name, func(t *testing.T) {
			for seed := range uint64(300) {
				r := rand.New(rand.NewPCG(seed, 6))
				log := randomLog(r, r.IntN(400), 1+r.IntN(8), 0.2)
				want := foldEvents(spec, log)

				folder := features.NewFolder(spec)
				for _, rec := range records(t, r, log) {
					if err := folder.AddRecord(rec); err != nil {
						t.Fatal(err)
					}
					rec.Release()
				}
				compareStates(t, seed, "Folder.AddRecord", folder.States(), want)

				sorted := slices.Clone(log)
				slices.SortStableFunc(sorted, func(a, b event.Event) int { return cmp.Compare(a.EntityID, b.EntityID) })
				got := map[string]*features.State{}
				stream := features.NewStream(spec, func(id string, st *features.State) error {
					if _, dup := got[id]; dup {
						t.Fatalf("entity %s emitted twice", id)
					}
					got[id] = st
					return nil
				})
				for _, rec := range records(t, r, sorted) {
					if err := stream.AddRows(rec, nil); err != nil {
						t.Fatal(err)
					}
					rec.Release()
				}
				if err := stream.Close(); err != nil {
					t.Fatal(err)
				}
				compareStates(t, seed, "Stream.AddRecord", got, want)

				got = map[string]*features.State{}
				stream = features.NewStream(spec, func(id string, st *features.State) error { got[id] = st; return nil })
				for _, e := range sorted {
					if err := stream.Add(e); err != nil {
						t.Fatal(err)
					}
				}
				if err := stream.Close(); err != nil {
					t.Fatal(err)
				}
				compareStates(t, seed, "Stream.Add", got, want)
			}
		})
	}
}

func compareStates(t *testing.T, seed uint64, what string, got, want map[string]*features.State) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("seed %d %s: %d entities, want %d", seed, what, len(got), len(want))
	}
	for id, w := range want {
		if g := got[id]; g == nil || !g.Equal(w) {
			t.Fatalf("seed %d %s: entity %s differs", seed, what, id)
		}
	}
}

// records cuts events into records of random sizes; some are slices of a larger
// record, so array offsets are exercised.
func records(t *testing.T, r *rand.Rand, events []event.Event) []arrow.Record {
	var out []arrow.Record
	for len(events) > 0 {
		n := 1 + r.IntN(len(events))
		if r.IntN(2) == 0 {
			// Rows outside the slice must not be folded.
			pad := 1 + r.IntN(3)
			outside := ev("outside", "view", baseTime, 1e6)
			rows := slices.Concat(slices.Repeat([]event.Event{outside}, pad), events[:n], []event.Event{outside})
			full := buildRecord(t, rows)
			out = append(out, full.NewSlice(int64(pad), int64(pad+n)))
			full.Release()
		} else {
			out = append(out, buildRecord(t, events[:n]))
		}
		events = events[n:]
	}
	return out
}

func TestStreamRejectsUnsorted(t *testing.T) {
	s := features.NewStream(features.DefaultSpec(), func(string, *features.State) error { return nil })
	e := ev("a", "view", baseTime)
	e.EntityID = "b"
	if err := s.Add(e); err != nil {
		t.Fatal(err)
	}
	e.EntityID = "a"
	if err := s.Add(e); !errors.Is(err, features.ErrNotSorted) {
		t.Errorf("err = %v, want ErrNotSorted", err)
	}
}

func TestRecordSchemaErrors(t *testing.T) {
	mem := memory.NewGoAllocator()
	wrong := arrow.NewSchema([]arrow.Field{{Name: "entity_id", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(mem, wrong)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(1)
	rec := b.NewRecord()
	defer rec.Release()
	if err := features.NewFolder(features.DefaultSpec()).AddRecord(rec); !errors.Is(err, features.ErrRecordSchema) {
		t.Errorf("wrong schema: err = %v", err)
	}

	eb := array.NewRecordBuilder(mem, features.EventSchema)
	defer eb.Release()
	for i, f := range eb.Fields() {
		switch i {
		case 3:
			f.(*array.Int64Builder).Append(0)
		case 4:
			f.AppendNull()
		case 5:
			f.(*array.ListBuilder).Append(true)
			f.(*array.ListBuilder).ValueBuilder().(*array.StringBuilder).Append("category")
		case 6:
			f.(*array.ListBuilder).Append(true)
		default:
			f.(*array.StringBuilder).Append("view")
		}
	}
	uneven := eb.NewRecord()
	defer uneven.Release()
	if err := features.NewFolder(features.DefaultSpec()).AddRecord(uneven); !errors.Is(err, features.ErrRecordSchema) {
		t.Errorf("uneven attrs: err = %v", err)
	}
}

// ClickHouse Array(String) columns arrive as lists of non-nullable strings.
func TestRecordAcceptsNonNullableListItems(t *testing.T) {
	fields := slices.Clone(features.EventSchema.Fields())
	fields[5].Type = arrow.ListOfNonNullable(arrow.BinaryTypes.String)
	fields[6].Type = arrow.ListOfNonNullable(arrow.BinaryTypes.String)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), arrow.NewSchema(fields, nil))
	defer b.Release()
	for i, f := range b.Fields() {
		switch i {
		case 3:
			f.(*array.Int64Builder).Append(baseTime.UnixMicro())
		case 4:
			f.(*array.Float64Builder).Append(2)
		case 5, 6:
			f.(*array.ListBuilder).Append(true)
			f.(*array.ListBuilder).ValueBuilder().(*array.StringBuilder).Append(map[int]string{5: "category", 6: "books"}[i])
		default:
			f.(*array.StringBuilder).Append("view")
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	f := features.NewFolder(features.DefaultSpec())
	if err := f.AddRecord(rec); err != nil {
		t.Fatal(err)
	}
	if got := f.States()["view"].Vector(baseTime); got[0] != 1 || got[9] != 1 {
		t.Errorf("vector = %v, want count_all 1 and distinct_category 1", got)
	}
}
