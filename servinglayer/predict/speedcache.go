package predict

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// speedShards spreads the speed cache over locks so concurrent lookups rarely contend.
const speedShards = 64

// speedCache holds speed rows read from PostgreSQL, and the entities that have none,
// until PostgreSQL tells they changed (views.Speed.ListenChanges). It is usable only
// while that notification channel is: when it breaks, changes go untold, so the cache
// empties and every lookup reads PostgreSQL until the channel listens again.
//
// A read may race a change: it reads the old row, the change commits, and its
// notification arrives before the read is cached. So a read is cached only if no
// notification arrived since it started (seq).
//
// Like the batch store it holds nothing the garbage collector traces: each shard keeps
// its entries encoded in one byte slice, indexed by a 64-bit hash of the entity id; a
// forgotten entry's bytes stay until its shard, full, starts over.
type speedCache struct {
	seed      maphash.Seed
	shardSize int         // bytes of entries a shard holds before it starts over
	live      atomic.Bool // the notification channel listens
	seq       atomic.Uint64
	bytes     atomic.Int64 // entry bytes held, for the gauge
	shards    [speedShards]speedShard
}

type speedShard struct {
	mu     sync.RWMutex
	index  map[uint64]uint32 // hash of the entity id → offset of its entry in rows
	rows   []byte            // entries, each as encodeSpeed wrote it
	models map[string]string // interned model names, so a hit allocates none
}

func newSpeedCache(bytes int) *speedCache {
	c := &speedCache{seed: maphash.MakeSeed(), shardSize: max(1<<10, bytes/speedShards)}
	for i := range c.shards {
		c.shards[i].reset(c)
	}
	return c
}

func (s *speedShard) reset(c *speedCache) {
	c.bytes.Add(-int64(len(s.rows)))
	s.index, s.rows, s.models = make(map[uint64]uint32), s.rows[:0], make(map[string]string)
}

func (c *speedCache) shard(id string) (*speedShard, uint64) {
	h := maphash.String(c.seed, id)
	return &c.shards[h%speedShards], h
}

// get returns id's cached row (nil: the speed view has none) and whether it is cached.
func (c *speedCache) get(id string) (*SpeedRow, bool) {
	if !c.live.Load() {
		return nil, false
	}
	s, h := c.shard(id)
	s.mu.RLock()
	defer s.mu.RUnlock()
	off, ok := s.index[h]
	if !ok {
		return nil, false
	}
	return s.decode(id, s.rows[off:])
}

// put caches what a read that started at sequence seq found for ids: rows, and no
// row for the others.
func (c *speedCache) put(seq uint64, ids []string, rows []SpeedRow) {
	found := make(map[string]*SpeedRow, len(rows))
	for i := range rows {
		found[rows[i].EntityID] = &rows[i]
	}
	for _, id := range ids {
		s, h := c.shard(id)
		s.mu.Lock()
		if c.live.Load() && c.seq.Load() == seq {
			if len(s.rows) >= c.shardSize {
				s.reset(c)
			}
			s.index[h] = uint32(len(s.rows))
			n := len(s.rows)
			s.rows = encodeSpeed(s.rows, id, found[id])
			c.bytes.Add(int64(len(s.rows) - n))
			if r := found[id]; r != nil {
				if _, ok := s.models[r.ModelName]; !ok {
					s.models[r.ModelName] = r.ModelName
				}
			}
		}
		s.mu.Unlock()
	}
}

// forget drops the entries of ids, whose rows changed.
func (c *speedCache) forget(ids []string) {
	c.seq.Add(1)
	for _, id := range ids {
		s, h := c.shard(id)
		s.mu.Lock()
		delete(s.index, h)
		s.mu.Unlock()
	}
}

// listening empties the cache and makes it usable (live) or not: what it held may
// have changed unannounced.
func (c *speedCache) listening(live bool) {
	c.seq.Add(1)
	c.live.Store(live)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.reset(c)
		s.mu.Unlock()
	}
}

// An entry is the entity id (uvarint length, bytes), then 0 for an entity without a
// speed row, or 1 and the row: base run, partition, offset, last event, as_of and
// updated_at (seconds and nanoseconds each), scored (0 or 1), score, model version,
// model name (uvarint length, bytes) and the vector (uvarint length, float32 bits),
// fixed-size numbers little-endian.
func encodeSpeed(b []byte, id string, r *SpeedRow) []byte {
	b = appendString(b, id)
	if r == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(r.BaseRunID))
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Partition))
	b = binary.LittleEndian.AppendUint64(b, uint64(r.Offset))
	b = appendTime(appendTime(appendTime(b, r.LastEvent), r.AsOf), r.UpdatedAt)
	scored := byte(0)
	if r.Scored {
		scored = 1
	}
	b = append(b, scored)
	b = binary.LittleEndian.AppendUint32(b, math.Float32bits(r.Score))
	b = binary.AppendUvarint(b, uint64(r.ModelVersion))
	b = appendString(b, r.ModelName)
	b = binary.AppendUvarint(b, uint64(len(r.Vector)))
	for _, v := range r.Vector {
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

// decode decodes the entry at the start of b if it is id's; ok is false when it is
// another id's (one of the same hash). encodeSpeed wrote b, so it is not checked for
// truncation.
func (s *speedShard) decode(id string, b []byte) (row *SpeedRow, ok bool) {
	r := entryReader{b: b}
	if string(r.bytes()) != id {
		return nil, false
	}
	if r.byte() == 0 {
		return nil, true
	}
	row = &SpeedRow{EntityID: id, BaseRunID: int64(r.uint64())}
	row.Partition = int32(r.uint32())
	row.Offset = int64(r.uint64())
	row.LastEvent, row.AsOf, row.UpdatedAt = r.time(), r.time(), r.time()
	row.Scored = r.byte() == 1
	row.Score = math.Float32frombits(r.uint32())
	row.ModelVersion = int64(r.uvarint())
	row.ModelName = s.models[string(r.bytes())]
	if n := r.uvarint(); n > 0 {
		row.Vector = make([]float32, n)
		for i := range row.Vector {
			row.Vector[i] = math.Float32frombits(r.uint32())
		}
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
