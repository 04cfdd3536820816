package master_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/apache/arrow/go/v17/arrow/array"

	"github.com/lambda-platform/lambda/internal/demogen"
	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/kafka"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/master/mastertest"
)

// key is a row's place in the log.
type key struct {
	partition int32
	offset    int64
}

// TestReadCoversCutoffOnce reads a master dataset with copies, rows past the cutoff,
// imported rows and awkward entity ids in many chunks: every row of the cutoff comes
// back exactly once, as it was appended, sorted by entity within disjoint chunks and
// by (partition, offset) within an entity.
func TestReadCoversCutoffOnce(t *testing.T) {
	env := mastertest.NewClickHouse(t, nil)
	g := demogen.New(demogen.Config{Entities: 500, Seed: 1})
	events := make([]event.Event, 20000)
	for i := range events {
		events[i] = g.Next()
		if i%97 == 0 {
			events[i].EntityID = fmt.Sprintf(`o'brien\%d`, i%5) // quotes and backslashes in chunk bounds
		}
	}
	next := map[int]int64{}
	logged := mastertest.Log(events, 3, next)
	for i := range 300 {
		e := events[i]
		e.EventID += "-imported"
		logged = append(logged, mastertest.Logged{Event: e, Partition: master.ImportPartition, Offset: int64(i)})
	}
	env.Insert(t, logged)
	env.Insert(t, logged[5000:6000]) // copies
	cutoff := master.Cutoff{Offsets: []int64{next[0] - 100, -1, next[2] - 1}, Imported: 199}
	if imported, err := env.Events.ImportedMax(t.Context()); err != nil || imported != 299 {
		t.Fatalf("ImportedMax = %d, %v; want 299", imported, err)
	}

	want := map[key]mastertest.Logged{}
	copies := 0
	var newest time.Time
	for i, l := range logged {
		if mastertest.Included(l, cutoff) {
			want[key{l.Partition, l.Offset}] = l
			if l.TS.After(newest) {
				newest = l.TS
			}
			if i >= 5000 && i < 6000 {
				copies++
			}
		}
	}
	plan, err := env.Events.Plan(t.Context(), cutoff, 1) // a chunk per sampled row
	if err != nil {
		t.Fatal(err)
	}
	if plan.Rows != int64(len(want)+copies) || !plan.Newest.Equal(newest.Truncate(time.Microsecond)) || len(plan.Chunks) < 5 {
		t.Fatalf("plan: %d rows, newest %v, %d chunks; want %d rows, newest %v, several chunks",
			plan.Rows, plan.Newest, len(plan.Chunks), len(want)+copies, newest)
	}
	// The plan's chunks, held and ordered by Read; then the whole cutoff as one chunk
	// too large to hold, sorted by ClickHouse and passed on block by block.
	checkRead(t, env.Events, cutoff, plan.Chunks, want, copies)
	checkRead(t, env.Events, cutoff, []master.Chunk{{Rows: master.MaxHeldRows + 1}}, want, copies)

	// Each shard of 2, both ways: the Kafka rows of its partitions, the imported rows
	// of the entities homed in them.
	for index := range 2 {
		sharded := cutoff
		sharded.Shard = master.Shard{Index: index, Of: 2}
		home := func(l mastertest.Logged) int {
			if l.Partition == master.ImportPartition {
				return kafka.PartitionFor([]byte(l.EntityID), len(cutoff.Offsets))
			}
			return int(l.Partition)
		}
		wantShard, copiesShard := map[key]mastertest.Logged{}, 0
		for i, l := range logged {
			if _, ok := want[key{l.Partition, l.Offset}]; ok && home(l)%2 == index {
				wantShard[key{l.Partition, l.Offset}] = l
				if i >= 5000 && i < 6000 {
					copiesShard++
				}
			}
		}
		plan, err := env.Events.Plan(t.Context(), sharded, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkRead(t, env.Events, sharded, plan.Chunks, wantShard, copiesShard)
		checkRead(t, env.Events, sharded, []master.Chunk{{Rows: master.MaxHeldRows + 1}}, wantShard, copiesShard)
	}
}

// checkRead reads chunks (consecutive, covering every entity) with one buffer, as a
// run does, and checks that every row of want comes back once, as it was appended,
// sorted by entity and by (partition, offset) within an entity, with copies copies
// skipped.
func checkRead(t *testing.T, events *master.Dataset, cutoff master.Cutoff, chunks []master.Chunk, want map[key]mastertest.Logged, copies int) {
	t.Helper()
	byID := map[string]key{}
	for k, l := range want {
		byID[l.EventID] = k
	}
	seen := map[key]bool{}
	var total master.ReadStats
	lastEntity, last := "", key{}
	buf := new(master.ReadBuffer)
	for i, c := range chunks {
		if i > 0 && c.From != chunks[i-1].To {
			t.Fatalf("chunk %d starts at %q, the one before ends at %q", i, c.From, chunks[i-1].To)
		}
		st, err := events.Read(t.Context(), cutoff, c, "", buf, func(rec arrow.Record, order []int32) error {
			rows := rowsOf(t, rec)
			for _, i := range order {
				r := rows[i]
				if r.EntityID < lastEntity || r.EntityID < c.From || (c.To != "" && r.EntityID >= c.To) {
					t.Fatalf("entity %q out of order or outside %s", r.EntityID, c)
				}
				k, ok := byID[r.EventID]
				if !ok {
					t.Fatalf("row %s of %s is not in the cutoff", r.EventID, r.EntityID)
				}
				if r.EntityID == lastEntity && (k.partition < last.partition || k.partition == last.partition && k.offset <= last.offset) {
					t.Fatalf("entity %q: row %+v after %+v", r.EntityID, k, last)
				}
				lastEntity, last = strings.Clone(r.EntityID), k // the record's memory is reused
				checkRow(t, want[k].Event, r)
				if seen[k] {
					t.Fatalf("row %+v read twice", k)
				}
				seen[k] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total.Rows += st.Rows
		total.Copies += st.Copies
	}
	if len(seen) != len(want) || total.Rows != int64(len(want)) || total.Copies != int64(copies) {
		t.Errorf("read %d distinct rows (stats %+v), want %d and %d copies", len(seen), total, len(want), copies)
	}
}

// checkRow compares a row read back with the event appended.
func checkRow(t *testing.T, e, r event.Event) {
	t.Helper()
	switch {
	case r.EntityID != e.EntityID || r.Type != e.Type || !r.TS.Equal(e.TS.Truncate(time.Microsecond)):
		t.Fatalf("row %s: %s %s at %v, want %s %s at %v", e.EventID, r.EntityID, r.Type, r.TS, e.EntityID, e.Type, e.TS)
	case (r.Value == nil) != (e.Value == nil) || r.Value != nil && *r.Value != *e.Value:
		t.Fatalf("row %s: value %v, want %v", e.EventID, r.Value, e.Value)
	case len(r.Attrs) != len(e.Attrs):
		t.Fatalf("row %s: attrs %v, want %v", e.EventID, r.Attrs, e.Attrs)
	}
	for a, v := range e.Attrs {
		if r.Attrs[a] != v {
			t.Fatalf("row %s: attrs %v, want %v", e.EventID, r.Attrs, e.Attrs)
		}
	}
}

// rowsOf turns an EventSchema record back into events.
func rowsOf(t *testing.T, rec arrow.Record) []event.Event {
	t.Helper()
	if !rec.Schema().Equal(features.EventSchema) {
		t.Fatalf("schema %s", rec.Schema())
	}
	col := func(i int) arrow.Array { return rec.Column(i) }
	ent, id, typ := col(0).(*array.String), col(1).(*array.String), col(2).(*array.String)
	ts, val := col(3).(*array.Int64), col(4).(*array.Float64)
	keys, vals := col(5).(*array.List), col(6).(*array.List)
	out := make([]event.Event, rec.NumRows())
	for i := range out {
		e := event.Event{EntityID: ent.Value(i), EventID: id.Value(i), Type: typ.Value(i), TS: time.UnixMicro(ts.Value(i)).UTC()}
		if val.IsValid(i) {
			v := val.Value(i)
			e.Value = &v
		}
		ks, ke := keys.ValueOffsets(i)
		vs, _ := vals.ValueOffsets(i)
		if ke > ks {
			e.Attrs = map[string]string{}
		}
		for j := ks; j < ke; j++ {
			e.Attrs[keys.ListValues().(*array.String).Value(int(j))] = vals.ListValues().(*array.String).Value(int(vs + j - ks))
		}
		out[i] = e
	}
	return out
}

func TestPlanOfNothing(t *testing.T) {
	env := mastertest.NewClickHouse(t, nil)
	cutoff := master.Cutoff{Offsets: []int64{-1, -1}, Imported: -1}
	plan, err := env.Events.Plan(t.Context(), cutoff, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Rows != 0 || !plan.Newest.IsZero() || len(plan.Chunks) != 1 || plan.Chunks[0] != (master.Chunk{}) {
		t.Fatalf("plan of nothing: %+v", plan)
	}
	st, err := env.Events.Read(t.Context(), cutoff, plan.Chunks[0], "", new(master.ReadBuffer), func(arrow.Record, []int32) error {
		t.Fatal("a record of nothing")
		return nil
	})
	if err != nil || st != (master.ReadStats{}) {
		t.Errorf("Read = %+v, %v", st, err)
	}
}

func TestCutoffFromCoverage(t *testing.T) {
	c := master.CutoffFromCoverage(map[int]int64{0: 10, 2: 0, 3: 5}, 7)
	if want := []int64{9, -1, -1, 4}; !slices.Equal(c.Offsets, want) || c.Imported != 7 {
		t.Errorf("CutoffFromCoverage = %+v, want offsets %v, imported 7", c, want)
	}
}
