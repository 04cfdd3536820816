package master

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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

// ErrInvalidShard: a shard is not I/N with 0 ≤ I < N.
var ErrInvalidShard = errors.New("invalid shard")

// Valid fails unless 0 ≤ Index < Of.
func (s Shard) Valid() error {
	if s.Index < 0 || s.Index >= s.Of {
		return fmt.Errorf("%w %d/%d: want I/N with 0 ≤ I < N", ErrInvalidShard, s.Index, s.Of)
	}
	return nil
}

// ParseShard parses "I/N", a valid shard.
func ParseShard(text string) (Shard, error) {
	i, n, ok := strings.Cut(text, "/")
	index, err1 := strconv.Atoi(i)
	of, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("%w %q: want I/N, such as 0/4", ErrInvalidShard, text)
	}
	s := Shard{Index: index, Of: of}
	return s, s.Valid()
}

// String is "I/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, max(s.Of, 1)) }

// holdsPartition reports whether the entities homed in partition p are in s.
func (s Shard) holdsPartition(p int) bool { return s.Whole() || p%s.Of == s.Index }

// holdsEntity reports whether entity id, in a topic of partitions partitions, is in s.
func (s Shard) holdsEntity(id []byte, partitions int) bool {
	return s.Whole() || s.holdsPartition(kafka.PartitionFor(id, partitions))
}
