package view

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultFlushRows is how many rows a Writer inserts at once by default: a batch run's
// writers carry rows from chunk to chunk, so it sets the size of batch_view's parts. With
// 65,536, `make growth`'s `lambda batch run` over 10M events of 100k entities peaked at
// 879 MiB and 8.3 CPU s, against 654 MiB and 5.5 s with 16,384 (and 620 MiB, 6.8 s with
// one insert per chunk): most likely the rows held, clickhouse-go's copy of them for the
// insert, and the cost of touching that much fresh memory.
const DefaultFlushRows = 16384

// insertColumns are the batch_view columns, in the order Writer appends them.
const insertColumns = "run_id, entity_id, kafka_partition, covered_offset, last_event_us, as_of_us, " +
	"state, vector, score, model_name, model_version, written_at"

// Inserter is what a Writer needs of a ClickHouse connection (driver.Conn has it).
type Inserter interface {
	PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error)
}

// Run describes the batch run a Writer writes for: the same in every row.
type Run struct {
	ID           uint64
	AsOf         time.Time
	ModelName    string
	ModelVersion int64 // stored as UInt32, the column's type
}

// Row is one entity's row of a run.
type Row struct {
	EntityID       string
	KafkaPartition int32
	// CoveredOffset is the highest offset of the entity's Kafka partition the run includes.
	CoveredOffset int64
	// LastEvent is the entity's newest event time the run includes.
	LastEvent time.Time
	// State is the encoded feature state (features.State.AppendBinary).
	State  []byte
	Vector []float32
	Score  float32
}

// Writer inserts the rows of one run. It is not safe for concurrent use; give each
// goroutine its own.
type Writer struct {
	conn      Inserter
	table     string
	run       Run
	flushRows int
	written   int64

	entity    []string
	partition []int32
	covered   []int64
	lastEvent []int64
	state     [][]byte
	stateData []byte
	vector    [][]float32
	vecData   []float32
	score     []float32
}

// NewWriter returns a Writer of run's rows into database's batch_view that inserts
// every flushRows rows (DefaultFlushRows when ≤ 0).
func NewWriter(conn Inserter, database string, run Run, flushRows int) *Writer {
	if flushRows <= 0 {
		flushRows = DefaultFlushRows
	}
	return &Writer{conn: conn, table: table(database), run: run, flushRows: flushRows}
}

// Run is the run the Writer writes for.
func (w *Writer) Run() Run { return w.run }

// Written is the number of rows inserted so far.
func (w *Writer) Written() int64 { return w.written }

// Add collects r, copying its state and vector, and inserts the collected rows when
// there are FlushRows of them.
func (w *Writer) Add(ctx context.Context, r Row) error {
	w.entity = append(w.entity, r.EntityID)
	w.partition = append(w.partition, r.KafkaPartition)
	w.covered = append(w.covered, r.CoveredOffset)
	w.lastEvent = append(w.lastEvent, r.LastEvent.UnixMicro())
	w.stateData = append(w.stateData, r.State...)
	w.state = append(w.state, w.stateData[len(w.stateData)-len(r.State):len(w.stateData):len(w.stateData)])
	w.vecData = append(w.vecData, r.Vector...)
	w.vector = append(w.vector, w.vecData[len(w.vecData)-len(r.Vector):len(w.vecData):len(w.vecData)])
	w.score = append(w.score, r.Score)
	if len(w.entity) >= w.flushRows {
		return w.Flush(ctx)
	}
	return nil
}

// Flush inserts the collected rows, if any, with one column-oriented INSERT.
func (w *Writer) Flush(ctx context.Context) (err error) {
	n := len(w.entity)
	if n == 0 {
		return nil
	}
	ins, err := w.conn.PrepareBatch(ctx, "INSERT INTO "+w.table+" ("+insertColumns+")")
	if err != nil {
		return fmt.Errorf("prepare insert into %s: %w", w.table, err)
	}
	defer func() {
		if cerr := ins.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close insert into %s: %w", w.table, cerr)
		}
	}()
	now := time.Now().Unix()
	for i, col := range []any{
		slices.Repeat([]uint64{w.run.ID}, n), w.entity, w.partition, w.covered, w.lastEvent,
		slices.Repeat([]int64{w.run.AsOf.UnixMicro()}, n), w.state, w.vector, w.score,
		slices.Repeat([]string{w.run.ModelName}, n), slices.Repeat([]uint32{uint32(w.run.ModelVersion)}, n),
		slices.Repeat([]int64{now}, n),
	} {
		if err := ins.Column(i).Append(col); err != nil {
			return fmt.Errorf("insert into %s: column %d: %w", w.table, i, err)
		}
	}
	if err := ins.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", n, w.table, err)
	}
	w.written += int64(n)
	w.entity, w.partition, w.covered, w.lastEvent = w.entity[:0], w.partition[:0], w.covered[:0], w.lastEvent[:0]
	w.state, w.stateData, w.vector, w.vecData, w.score = w.state[:0], w.stateData[:0], w.vector[:0], w.vecData[:0], w.score[:0]
	return nil
}

func table(database string) string { return "`" + database + "`.batch_view" }
