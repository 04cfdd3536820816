package predict

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// cacheShards spreads the cache over locks so concurrent lookups rarely contend.
const cacheShards = 64

// runCache holds the batch rows of one published run, and the entities it lacks. The
// rows never change, so entries never go stale.
//
// It holds nothing the garbage collector traces: each shard keeps its rows encoded in
// one byte slice, indexed by a 64-bit hash of the entity id, so a cache of a million
// rows adds no mark work to the serving process's collections (as pointers, the same
// rows added ~150 ms to each). A hit decodes a fresh BatchRow. A full shard starts over.
type runCache struct {
	run      ServedRun
	perShard int
	seed     maphash.Seed
	entries  *atomic.Int64 // shared with the gauge, across runs
	dropped  atomic.Bool
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu    sync.RWMutex
	index map[uint64]uint32 // hash of the entity id → offset of its entry in rows
	rows  []byte            // entries, each as encodeEntry wrote it
	// models interns model names, so a hit allocates none; one or two per run.
	models map[string]string
}

func newRunCache(run ServedRun, capacity int, entries *atomic.Int64) *runCache {
	c := &runCache{run: run, perShard: max(1, capacity/cacheShards), seed: maphash.MakeSeed(), entries: entries}
	for i := range c.shards {
		c.shards[i].reset()
	}
	return c
}

func (s *cacheShard) reset() {
	s.index, s.rows, s.models = make(map[uint64]uint32), s.rows[:0], make(map[string]string)
}

// get returns the cached row of id (nil: the run lacks it) and whether id is cached.
func (c *runCache) get(id string) (*BatchRow, bool) {
	h := maphash.String(c.seed, id)
	s := &c.shards[h%cacheShards]
	s.mu.RLock()
	defer s.mu.RUnlock()
	off, ok := s.index[h]
	if !ok {
		return nil, false
	}
	return s.decodeEntry(id, s.rows[off:])
}

// put caches row (nil: the run lacks the entity) under id.
func (c *runCache) put(id string, row *BatchRow) {
	h := maphash.String(c.seed, id)
	s := &c.shards[h%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.dropped.Load() {
		return
	}
	if off, ok := s.index[h]; ok {
		if r := (entryReader{b: s.rows[off:]}); string(r.bytes()) == id {
			return
		}
		// Another id of the same hash: the newer replaces it.
		c.entries.Add(-1)
	} else if len(s.index) >= c.perShard {
		c.entries.Add(-int64(len(s.index)))
		s.reset()
	}
	s.index[h] = uint32(len(s.rows))
	s.rows = encodeEntry(s.rows, id, row)
	if row != nil {
		if _, ok := s.models[row.ModelName]; !ok {
			s.models[row.ModelName] = row.ModelName
		}
	}
	c.entries.Add(1)
}

// drop forgets every entry, for the gauge, when the run is no longer served.
func (c *runCache) drop() {
	c.dropped.Store(true)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		c.entries.Add(-int64(len(s.index)))
		s.rows = nil
		s.reset()
		s.mu.Unlock()
	}
}

// An entry is the entity id (uvarint length, bytes), then 0 for an absent entity or 1
// and the row: run id, partition, offset, last event and as-of times (seconds and
// nanoseconds), score, model version, model name (uvarint length, bytes) and the
// vector (uvarint length, float32 bits), fixed-size numbers little-endian.
func encodeEntry(b []byte, id string, row *BatchRow) []byte {
	b = appendString(b, id)
	if row == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(row.RunID))
	b = binary.LittleEndian.AppendUint32(b, uint32(row.Partition))
	b = binary.LittleEndian.AppendUint64(b, uint64(row.Offset))
	b = appendTime(b, row.LastEvent)
	b = appendTime(b, row.AsOf)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(row.Score))
	b = binary.AppendUvarint(b, uint64(row.ModelVersion))
	b = appendString(b, row.ModelName)
	b = binary.AppendUvarint(b, uint64(len(row.Vector)))
	for _, v := range row.Vector {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.LittleEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// decodeEntry decodes the entry at the start of b if it is id's; ok is false when it
// is another id's. encodeEntry wrote b, so it is not checked for truncation.
func (s *cacheShard) decodeEntry(id string, b []byte) (row *BatchRow, ok bool) {
	r := entryReader{b: b}
	if string(r.bytes()) != id {
		return nil, false
	}
	if r.byte() == 0 {
		return nil, true
	}
	row = &BatchRow{EntityID: id, RunID: int64(r.uint64())}
	row.Partition = int32(r.uint32())
	row.Offset = int64(r.uint64())
	row.LastEvent, row.AsOf = r.time(), r.time()
	row.Score = math.Float32frombits(r.uint32())
	row.ModelVersion = int(r.uvarint())
	row.ModelName = s.models[string(r.bytes())]
	row.Vector = make([]float32, r.uvarint())
	for i := range row.Vector {
		row.Vector[i] = math.Float32frombits(r.uint32())
	}
	return row, true
}

// entryReader reads an entry's fields in order.
type entryReader struct{ b []byte }

func (r *entryReader) byte() byte {
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *entryReader) uint32() uint32 {
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *entryReader) uint64() uint64 {
	v := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *entryReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	r.b = r.b[n:]
	return v
}

// bytes returns the next string's bytes, which alias the entry.
func (r *entryReader) bytes() []byte {
	n := r.uvarint()
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *entryReader) time() time.Time {
	sec := int64(r.uint64())
	return time.Unix(sec, int64(r.uint32())).UTC()
}
