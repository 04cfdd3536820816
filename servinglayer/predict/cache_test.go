package predict

import (
	"reflect"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRunCache fills a run's cache with as many batch rows as its default size and
// reports what the cache adds to every garbage collection of the serving process (the
// mark work of a forced collection, with and without the cache), its heap, and the
// cost of a hit.
func BenchmarkRunCache(b *testing.B) {
	const n = DefaultCacheEntries
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "entity-" + strconv.Itoa(i)
	}
	gc := func() (time.Duration, uint64) {
		runtime.GC()
		start := time.Now()
		runtime.GC()
		d := time.Since(start)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return d, ms.HeapAlloc
	}
	gcBefore, heapBefore := gc()
	c := newRunCache(ServedRun{ID: 1}, 2*n, new(atomic.Int64)) // room for all: shards fill unevenly
	now := time.Now().UTC()
	for i, id := range ids {
		c.put(id, &BatchRow{EntityID: id, RunID: 1, Coverage: Coverage{Partition: int32(i % 12), Offset: int64(i), LastEvent: now},
			AsOf: now, Vector: make([]float32, 15), Score: 0.5, ModelName: "demo", ModelVersion: 3})
	}
	gcAfter, heapAfter := gc()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if row, ok := c.get(ids[i%n]); row == nil || !ok {
			b.Fatalf("%s: not cached", ids[i%n])
		}
		i++
	}
	b.ReportMetric(float64(gcAfter-gcBefore)/1e6, "cache-gc-ms")
	b.ReportMetric(float64(heapAfter-heapBefore)/(1<<20), "cache-MB")
	runtime.KeepAlive(c)
}

func TestRunCache(t *testing.T) {
	entries := new(atomic.Int64)
	c := newRunCache(ServedRun{ID: 7}, 1000, entries)
	at := time.Date(2026, 11, 27, 8, 30, 1, 123456789, time.UTC)
	full := BatchRow{EntityID: "full", RunID: 7, Coverage: Coverage{Partition: 11, Offset: 1 << 40, LastEvent: at.Add(-time.Hour)},
		AsOf: at, Vector: []float32{1.5, -2, 0, 3.25e-7}, Score: 0.875, ModelName: "churn", ModelVersion: 12}
	bare := BatchRow{EntityID: "bare"} // zero times, no vector, no model
	c.put(full.EntityID, &full)
	c.put(bare.EntityID, &bare)
	c.put("absent", nil)
	c.put(full.EntityID, &BatchRow{EntityID: "full", Score: 1}) // cached once: the first stays

	for _, want := range []BatchRow{full, bare} {
		got, ok := c.get(want.EntityID)
		if !ok || got == nil {
			t.Fatalf("get(%q) = %v, %v; want the row", want.EntityID, got, ok)
		}
		if want.Vector == nil {
			want.Vector = []float32{}
		}
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("get(%q) =\n%+v; want\n%+v", want.EntityID, *got, want)
		}
	}
	if got, ok := c.get("absent"); got != nil || !ok {
		t.Errorf("get(absent) = %v, %v; want nil, true (known absent)", got, ok)
	}
	if got, ok := c.get("unknown"); got != nil || ok {
		t.Errorf("get(unknown) = %v, %v; want nil, false", got, ok)
	}
	if n := entries.Load(); n != 3 {
		t.Errorf("%d entries counted; want 3", n)
	}

	// A full shard starts over: the gauge follows, and every entity stays answerable.
	for i := range 5000 {
		c.put("e-"+strconv.Itoa(i), &BatchRow{EntityID: "e-" + strconv.Itoa(i), Score: float32(i)})
	}
	if n := entries.Load(); n > 1000 || n < 1000-cacheShards*(1000/cacheShards) {
		t.Errorf("%d entries counted in a cache of 1000", n)
	}
	cached := 0
	for i := range 5000 {
		if row, ok := c.get("e-" + strconv.Itoa(i)); ok {
			cached++
			if row.Score != float32(i) {
				t.Fatalf("e-%d: score %v", i, row.Score)
			}
		}
	}
	if int64(cached) != entries.Load() {
		t.Errorf("%d entities cached, the gauge says %d", cached, entries.Load())
	}
	c.drop()
	if n := entries.Load(); n != 0 {
		t.Errorf("%d entries counted after drop", n)
	}
	if _, ok := c.get("full"); ok {
		t.Error("a dropped cache still answers")
	}
}
