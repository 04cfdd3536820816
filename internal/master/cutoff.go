package master

import (
	"strconv"
	"strings"

	"github.com/lambda-platform/lambda/internal/chstream"
)

// ImportPartition is the kafka_partition of rows that did not come through Kafka
// (Parquet backfills). Their kafka_offset is an import sequence number, unique and
// increasing across imports, so (kafka_partition, kafka_offset) stays a unique row key.
const ImportPartition = -1

// Cutoff is the part of the master dataset a batch run reads: the rows of Kafka
// partition p with kafka_offset ≤ Offsets[p], and the imported rows with
// kafka_offset ≤ Imported. -1 includes nothing of that partition. The slice index is
// the partition, so len(Offsets) is the topic's partition count.
//
// Shard narrows the reads of the cutoff (Dataset.Plan, Dataset.Read) to the entities
// of one shard: the rows of the partitions homing them — the archiver keeps only
// events in their home partition — and the imported rows of those entities, which
// Read picks by hashing entity_id (ClickHouse 18.16 has no Kafka murmur2), so every
// shard reads all imported rows. Its zero value reads every entity.
type Cutoff struct {
	Offsets  []int64
	Imported int64
	Shard    Shard
}

// CutoffFromCoverage turns the archiver's coverage (per partition, the committed
// offset: every offset below it is archived) into the Cutoff that includes exactly
// the archived rows, and imported rows up to imported.
func CutoffFromCoverage(coverage map[int]int64, imported int64) Cutoff {
	n := 0
	for p := range coverage {
		n = max(n, p+1)
	}
	c := Cutoff{Offsets: make([]int64, n), Imported: imported}
	for p := range c.Offsets {
		c.Offsets[p] = -1
		if next, ok := coverage[p]; ok {
			c.Offsets[p] = next - 1
		}
	}
	return c
}

// where is the SQL condition that selects the rows of the cutoff.
func (c Cutoff) where() string {
	var b strings.Builder
	b.WriteString("(")
	term := func(p int, off int64) {
		b.WriteString("(kafka_partition = ")
		b.WriteString(strconv.Itoa(p))
		b.WriteString(" AND kafka_offset <= ")
		b.WriteString(strconv.FormatInt(off, 10))
		b.WriteString(")")
	}
	term(ImportPartition, c.Imported)
	for p, off := range c.Offsets {
		if off >= 0 && c.Shard.holdsPartition(p) {
			b.WriteString(" OR ")
			term(p, off)
		}
	}
	b.WriteString(")")
	return b.String()
}

// quote is s as a ClickHouse string literal.
func quote(s string) string {
	var b strings.Builder
	chstream.Quote(&b, s)
	return b.String()
}
