package master

import (
	"fmt"

	"github.com/lambda-platform/lambda/internal/kafka"
)

// Shard is shard Index of Of of the entity space: the entities whose home partition
// p (kafka.PartitionFor over the cutoff's partitions, the hash the whole platform
// uses) has p % Of == Index. The zero value, like any Of ≤ 1, is every entity.
type Shard struct {
	Index, Of int
}

// Whole reports whether s holds every entity.
func (s Shard) Whole() bool { return s.Of <= 1 }

// Valid fails unless 0 ≤ Index < Of (or s is Whole).
func (s Shard) Valid() error {
	if s.Whole() && s.Index == 0 {
		return nil
	}
	if s.Index < 0 || s.Index >= s.Of {
		return fmt.Errorf("shard %d/%d: want 0 ≤ index < shards", s.Index, s.Of)
	}
	return nil
}

// String is "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, max(s.Of, 1)) }

// holdsPartition reports whether the entities homed in partition p are in s.
func (s Shard) holdsPartition(p int) bool { return s.Whole() || p%s.Of == s.Index }

// holdsEntity reports whether entity id, in a topic of partitions partitions, is in s.
func (s Shard) holdsEntity(id []byte, partitions int) bool {
	return s.Whole() || s.holdsPartition(kafka.PartitionFor(id, partitions))
}

// shardFilter reports whether an imported row of entity id is in the cutoff's shard;
// rows of one entity are adjacent in a read, so the last answer is kept.
func (c Cutoff) shardFilter() func(id string) bool {
	if c.Shard.Whole() {
		return func(string) bool { return true }
	}
	var (
		last string
		held bool
		seen bool
	)
	return func(id string) bool {
		if !seen || id != last {
			last, held, seen = id, c.Shard.holdsEntity([]byte(id), len(c.Offsets)), true
		}
		return held
	}
}
