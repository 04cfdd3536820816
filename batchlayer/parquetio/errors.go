package parquetio

import "errors"

// Errors matched with errors.Is.
var (
	// ErrSchema: the file's columns are not the event columns Import takes.
	ErrSchema = errors.New("parquet file does not have the event columns")
	// ErrInvalidRows: some rows are not valid events; nothing was imported.
	ErrInvalidRows = errors.New("parquet file has invalid events")
)
