package predict

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// cacheShards spreads the cache over locks so concurrent lookups rarely contend.
const cacheShards = 64

// runCache holds the batch rows of one published run, and the entities it lacks (nil
// rows). The rows never change, so entries never go stale; a full shard drops an
// arbitrary entry for a new one.
type runCache struct {
	run      ServedRun
	perShard int
	seed     maphash.Seed
	entries  *atomic.Int64 // shared with the gauge, across runs
	dropped  atomic.Bool
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]*BatchRow
}

func newRunCache(run ServedRun, capacity int, entries *atomic.Int64) *runCache {
	c := &runCache{run: run, perShard: max(1, capacity/cacheShards), seed: maphash.MakeSeed(), entries: entries}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*BatchRow)
	}
	return c
}

func (c *runCache) shard(id string) *cacheShard {
	return &c.shards[maphash.String(c.seed, id)%cacheShards]
}

// get returns the cached row of id (nil: the run lacks it) and whether id is cached.
func (c *runCache) get(id string) (*BatchRow, bool) {
	s := c.shard(id)
	s.mu.RLock()
	row, ok := s.m[id]
	s.mu.RUnlock()
	return row, ok
}

// put caches row (nil: the run lacks the entity) under id.
func (c *runCache) put(id string, row *BatchRow) {
	s := c.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; ok || c.dropped.Load() {
		return
	}
	if len(s.m) >= c.perShard {
		for k := range s.m { // map iteration starts at a random entry
			delete(s.m, k)
			c.entries.Add(-1)
			break
		}
	}
	s.m[id] = row
	c.entries.Add(1)
}

// drop forgets every entry, for the gauge, when the run is no longer served.
func (c *runCache) drop() {
	c.dropped.Store(true)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		c.entries.Add(-int64(len(s.m)))
		s.m = make(map[string]*BatchRow)
		s.mu.Unlock()
	}
}
