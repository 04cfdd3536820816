// Package oip reads the parts of Open Inference Protocol (v2) REST requests that plain
// JSON decoding does not: tensor data (flat or nested JSON, or raw bytes of the binary
// tensor data extension) of any numeric datatype, converted to the FP32 the served
// models take, and the binary section's layout. Every decoder here takes outside input:
// a malformed request is an *Error naming the rule it breaks, never a panic.
package oip

import (
	"fmt"
	"math"
)

// Error codes: the rule a request breaks.
const (
	CodeDatatype   = "unsupported_datatype" // a datatype the models cannot take
	CodeShape      = "invalid_shape"        // a shape that is not [N, F] or that data does not fill
	CodeData       = "invalid_data"         // tensor data that is missing or not numbers of its datatype
	CodeBinaryData = "invalid_binary_data"  // a binary section that does not match its header
)

// Error is a request that breaks the protocol: Code names the rule, Msg says where.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// MaxValues bounds the values of one tensor.
const MaxValues = 1 << 28

// datatype is a tensor element type the models' FP32 input can be fed from.
type datatype struct {
	size int // bytes per element in the binary section
	// bits of an integer type; 0 for floats.
	bits     int
	unsigned bool
}

var datatypes = map[string]datatype{
	"FP32": {size: 4}, "FP64": {size: 8},
	"INT8": {size: 1, bits: 8}, "INT16": {size: 2, bits: 16}, "INT32": {size: 4, bits: 32}, "INT64": {size: 8, bits: 64},
	"UINT8": {size: 1, bits: 8, unsigned: true}, "UINT16": {size: 2, bits: 16, unsigned: true},
	"UINT32": {size: 4, bits: 32, unsigned: true}, "UINT64": {size: 8, bits: 64, unsigned: true},
}

// lookup returns the datatype named name; field names the input in errors.
func lookup(field, name string) (datatype, error) {
	if dt, ok := datatypes[name]; ok {
		return dt, nil
	}
	switch name {
	case "BOOL", "BYTES", "FP16", "BF16":
		return datatype{}, errorf(CodeDatatype, "%s.datatype: %s is not served: the models take FP32 features "+
			"(FP64 and the INT and UINT types are converted to FP32)", field, name)
	}
	return datatype{}, errorf(CodeDatatype, "%s.datatype: unknown datatype %q; the protocol's numeric types are "+
		"FP32, FP64, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32 and UINT64", field, name)
}

// toFP32 converts a finite float64 to FP32, refusing values beyond its range.
func toFP32(v float64) (float32, bool) {
	f := float32(v)
	return f, !math.IsInf(float64(f), 0) || math.IsInf(v, 0)
}
