package master

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// sampleModulus: the plan samples the entity of one row in sampleModulus (by a hash
// of the row's partition and offset) to place chunk boundaries.
const sampleModulus = 1024

// Plan is what a batch run knows before it reads: the newest event time of the
// cutoff (its as_of), about how many rows it will read, and the entity ranges it reads
// one by one.
type Plan struct {
	// Newest is the newest fold time (event.FoldTime) among the rows of the cutoff; zero
	// when there are none.
	Newest time.Time
	// Rows counts the rows of the cutoff, copies of a row included (the denominator
	// for progress; the run reads each row once).
	Rows int64
	// Chunks split the entities into consecutive ranges of about the same number of rows.
	Chunks []Chunk
}

// Chunk is the range of entity ids From ≤ id < To; an empty From or To is unbounded.
type Chunk struct {
	From, To string
	// Rows estimates the rows the chunk holds, from the plan's sample (0: unknown).
	Rows int64
}

// Plan reads the newest event time and the row count of cutoff and splits the
// entities into chunks of about chunkRows rows, using an event-weighted sample of
// entity ids. A heavy entity is never split: every chunk holds whole entities.
func (d *Dataset) Plan(ctx context.Context, cutoff Cutoff, chunkRows int) (Plan, error) {
	var (
		newestUS int64
		rows     uint64
		sample   []string
	)
	q := fmt.Sprintf("SELECT max("+foldTime+"), count(), groupArrayIf(entity_id, cityHash64(kafka_partition, kafka_offset) %% %d = 0) FROM %s WHERE %s",
		sampleModulus, d.events, cutoff.where())
	if err := d.conn.QueryRow(ctx, q).Scan(&newestUS, &rows, &sample); err != nil {
		return Plan{}, fmt.Errorf("plan read of %s: %w", d.events, err)
	}
	p := Plan{Rows: int64(rows)}
	if rows > 0 {
		p.Newest = time.UnixMicro(newestUS).UTC()
	}
	slices.Sort(sample)
	per := max(1, chunkRows/sampleModulus) // sampled rows per chunk
	from, at := "", 0
	for i := per; i < len(sample); i += per {
		if to := sample[i]; to > from {
			p.Chunks = append(p.Chunks, Chunk{From: from, To: to, Rows: int64(i-at) * sampleModulus})
			from, at = to, i
		}
	}
	p.Chunks = append(p.Chunks, Chunk{From: from, Rows: int64(len(sample)-at) * sampleModulus})
	return p, nil
}

// String describes the chunk for errors and logs.
func (c Chunk) String() string {
	from, to := "", ""
	if c.From != "" {
		from = strconv.Quote(c.From)
	}
	if c.To != "" {
		to = strconv.Quote(c.To)
	}
	return "entities [" + from + ", " + to + ")"
}

// where is the SQL condition that selects the chunk's entities.
func (c Chunk) where() string {
	switch {
	case c.From == "" && c.To == "":
		return "1"
	case c.From == "":
		return "entity_id < " + quote(c.To)
	case c.To == "":
		return "entity_id >= " + quote(c.From)
	}
	return "entity_id >= " + quote(c.From) + " AND entity_id < " + quote(c.To)
}
