package parquetio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow/memory"
	"github.com/apache/arrow/go/v17/parquet"
	"github.com/apache/arrow/go/v17/parquet/file"
	"github.com/apache/arrow/go/v17/parquet/pqarrow"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lambda-platform/lambda/internal/event"
	"github.com/lambda-platform/lambda/internal/master"
	"github.com/lambda-platform/lambda/internal/runs"
)

// Tuning.
const (
	// readBatch is how many rows a record read from the file holds.
	readBatch = 64 << 10
	// insertRows is how many rows one insert into events holds.
	insertRows = 100_000
	// maxReported is how many invalid rows an error lists.
	maxReported = 10
)

// Imported describes a finished import.
type Imported struct {
	Rows int64
	// FirstOffset and LastOffset are the import sequence numbers the rows got.
	FirstOffset, LastOffset int64
}

// Import validates every row of the Parquet file src, then appends the rows to the
// master dataset as imported rows (see the package doc), holding the import lock of
// pool's database. The rows arrive at the time of the call: a row whose ts is more
// than event.DefaultMaxClockSkew later is invalid, as it would be through Kafka.
func Import(ctx context.Context, src parquet.ReaderAtSeeker, ds *master.Dataset, pool *pgxpool.Pool) (Imported, error) {
	arrival := time.Now()
	pf, err := file.NewParquetReader(src)
	if err != nil {
		return Imported{}, fmt.Errorf("read parquet file: %w", err)
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: readBatch}, memory.DefaultAllocator)
	if err != nil {
		return Imported{}, fmt.Errorf("read parquet file: %w", err)
	}
	sc, err := fr.Schema()
	if err != nil {
		return Imported{}, fmt.Errorf("read parquet schema: %w", err)
	}
	l, err := checkSchema(sc)
	if err != nil {
		return Imported{}, err
	}
	n, err := validate(ctx, fr, l, arrival)
	if err != nil {
		return Imported{}, err
	}
	if n == 0 {
		return Imported{}, nil
	}

	lock, err := runs.LockImports(ctx, pool)
	if err != nil {
		return Imported{}, err
	}
	defer lock.Release(ctx)
	last, err := ds.ImportedMax(ctx)
	if err != nil {
		return Imported{}, err
	}
	res := Imported{FirstOffset: last + 1, LastOffset: last}
	var batch master.Rows
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		if err := ds.Insert(ctx, &batch); err != nil {
			return fmt.Errorf("import rows %d to %d: %w", res.Rows-int64(batch.Len()), res.Rows-1, err)
		}
		batch.Reset()
		return nil
	}
	err = each(ctx, fr, l, func(r rows, n int) error {
		for i := range n {
			e, _ := r.event(i) // validated above
			res.LastOffset++
			batch.Append(master.ImportPartition, res.LastOffset, e, arrival)
			res.Rows++
			if batch.Len() >= insertRows {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return res, err
	}
	return res, nil
}

// validate checks every row, arriving at arrival, and returns how many there are.
func validate(ctx context.Context, fr *pqarrow.FileReader, l layout, arrival time.Time) (int64, error) {
	var (
		n       int64
		invalid int64
		report  []string
	)
	err := each(ctx, fr, l, func(r rows, rowsIn int) error {
		for i := range rowsIn {
			e, err := r.event(i)
			if err == nil {
				err = event.CheckArrival(e.TS, arrival, event.DefaultMaxClockSkew)
			}
			if err != nil {
				invalid++
				if len(report) < maxReported {
					report = append(report, fmt.Sprintf("row %d: %v", n+int64(i), err))
				}
			}
		}
		n += int64(rowsIn)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if invalid > 0 {
		return 0, fmt.Errorf("%w: %d of %d rows, nothing imported; %s", ErrInvalidRows, invalid, n, strings.Join(report, "; "))
	}
	return n, nil
}

// each calls fn with every record of the file, bound to its event columns.
func each(ctx context.Context, fr *pqarrow.FileReader, l layout, fn func(r rows, n int) error) error {
	rr, err := fr.GetRecordReader(ctx, nil, nil)
	if err != nil {
		return fmt.Errorf("read parquet rows: %w", err)
	}
	defer rr.Release()
	for rr.Next() {
		rec := rr.Record()
		if err := fn(bind(rec, l), int(rec.NumRows())); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read parquet rows: %w", err)
	}
	return nil
}
