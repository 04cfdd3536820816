package speedview

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/lambda-platform/lambda/speedlayer"
)

// PostgreSQL type oids of the upsert's parameters.
const (
	oidText        = 25
	oidInt8        = 20
	oidInt4        = 23
	oidBytea       = 17
	oidFloat4      = 700
	oidTimestamptz = 1184

	oidTextArray        = 1009
	oidInt8Array        = 1016
	oidInt4Array        = 1007
	oidByteaArray       = 1001
	oidFloat4Array      = 1021
	oidTimestamptzArray = 1185
)

// upsertParamOIDs are the types of upsertSQL's parameters, in order.
var upsertParamOIDs = []uint32{oidTextArray, oidInt8Array, oidInt4Array, oidInt8Array, oidTimestamptzArray,
	oidTimestamptzArray, oidByteaArray, oidFloat4Array, oidFloat4Array, oidInt4, oidText, oidInt4}

// binaryFormats says every parameter is in binary format.
var binaryFormats = []int16{1}

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's timestamp epoch, in unix µs.
const pgEpochMicros = 946_684_800_000_000

// upsertParams encodes upsertSQL's parameters for rows in PostgreSQL's binary format,
// into buf (reused): the same values pgx would send, without its per-element
// interface conversions, which measured most of the speed layer's encoding time.
// name and version are nil when the rows are unscored.
func upsertParams(buf []byte, rows []speedlayer.Row, width int, name *string, version *int64) ([]byte, [][]byte) {
	n := len(rows)
	var bounds [13]int // parameter i is buf[bounds[i]:bounds[i+1]]
	column := func(i int, oid uint32, elems int, put func(b []byte, j int) []byte) {
		bounds[i] = len(buf)
		buf = appendArrayHeader(buf, oid, elems)
		for j := range elems {
			buf = put(buf, j)
		}
	}
	column(0, oidText, n, func(b []byte, j int) []byte { return appendBytes(b, []byte(rows[j].EntityID)) })
	column(1, oidInt8, n, func(b []byte, j int) []byte { return appendInt8(b, rows[j].BaseRunID) })
	column(2, oidInt4, n, func(b []byte, j int) []byte { return appendInt4(b, int32(rows[j].Partition)) })
	column(3, oidInt8, n, func(b []byte, j int) []byte { return appendInt8(b, rows[j].CoveredOffset) })
	column(4, oidTimestamptz, n, func(b []byte, j int) []byte { return appendTime(b, rows[j].LastEventAt) })
	column(5, oidTimestamptz, n, func(b []byte, j int) []byte { return appendTime(b, rows[j].AsOf) })
	column(6, oidBytea, n, func(b []byte, j int) []byte { return appendBytes(b, rows[j].DeltaState) })
	scored := name != nil
	column(7, oidFloat4, n*boolInt(scored), func(b []byte, j int) []byte { return appendFloat4(b, rows[j].Score) })
	column(8, oidFloat4, n*width*boolInt(scored), func(b []byte, j int) []byte {
		return appendFloat4(b, rows[j/width].Vector[j%width])
	})
	bounds[9] = len(buf)
	buf = binary.BigEndian.AppendUint32(buf, uint32(width))
	bounds[10] = len(buf)
	if scored {
		buf = append(buf, *name...)
	}
	bounds[11] = len(buf)
	if scored {
		buf = binary.BigEndian.AppendUint32(buf, uint32(int32(*version)))
	}
	bounds[12] = len(buf)
	params := make([][]byte, 12)
	for i := range params {
		params[i] = buf[bounds[i]:bounds[i+1]]
	}
	if !scored {
		params[10], params[11] = nil, nil // NULL
	}
	return buf, params
}

// appendArrayHeader starts a one-dimensional array of elems elements of type oid,
// without NULLs, indexed from 1 (no dimension when empty, as PostgreSQL sends '{}').
func appendArrayHeader(b []byte, oid uint32, elems int) []byte {
	if elems == 0 {
		b = binary.BigEndian.AppendUint32(b, 0) // dimensions
		b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
		return binary.BigEndian.AppendUint32(b, oid)
	}
	b = binary.BigEndian.AppendUint32(b, 1) // dimensions
	b = binary.BigEndian.AppendUint32(b, 0) // no NULLs
	b = binary.BigEndian.AppendUint32(b, oid)
	b = binary.BigEndian.AppendUint32(b, uint32(elems))
	return binary.BigEndian.AppendUint32(b, 1) // lower bound
}

// Array elements: their length, then their bytes.

func appendBytes(b, v []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

func appendInt8(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v))
}

func appendInt4(b []byte, v int32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

func appendFloat4(b []byte, v float32) []byte {
	b = binary.BigEndian.AppendUint32(b, 4)
	return binary.BigEndian.AppendUint32(b, math.Float32bits(v))
}

func appendTime(b []byte, t time.Time) []byte {
	return appendInt8(b, t.UnixMicro()-pgEpochMicros)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
