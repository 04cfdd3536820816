package oip

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/lambda-platform/lambda/servinglayer/api"
)

// The binary tensor data extension's names.
const (
	// HeaderLength is the header of a body in two parts: its value is the length of the
	// JSON part, and the inputs' (or outputs') raw tensor bytes follow it.
	HeaderLength = "Inference-Header-Content-Length"
	// Extension is the extension's name in the server metadata.
	Extension = "binary_tensor_data"
)

// Split returns the JSON part of a request body and its binary section, by the value of
// its Inference-Header-Content-Length header ("" when the body is all JSON).
func Split(body []byte, headerLength string) (header, section []byte, err error) {
	if headerLength == "" {
		return body, nil, nil
	}
	n, err := strconv.ParseUint(headerLength, 10, 63)
	if err != nil {
		return nil, nil, errorf(CodeBinaryData, "%s: %q is not a byte count", HeaderLength, headerLength)
	}
	if n > uint64(len(body)) {
		return nil, nil, errorf(CodeBinaryData, "%s: %d, but the body has only %d bytes", HeaderLength, n, len(body))
	}
	return body[:n], body[n:], nil
}

// Attach hands each input of req with parameters.binary_data_size its part of the
// binary section, in input order; the parts must use up the section exactly.
func Attach(req *api.OIPInferRequest, section []byte) error {
	rest := section
	for i := range req.Inputs {
		in := &req.Inputs[i]
		if in.Parameters == nil || in.Parameters.BinaryDataSize == nil {
			continue
		}
		size := *in.Parameters.BinaryDataSize
		switch {
		case in.Data != nil:
			return errorf(CodeBinaryData, "inputs[%d]: both data and parameters.binary_data_size; send one", i)
		case size < 0:
			return errorf(CodeBinaryData, "inputs[%d].parameters.binary_data_size: %d", i, size)
		case size > int64(len(rest)):
			return errorf(CodeBinaryData, "inputs[%d].parameters.binary_data_size: %d bytes, but the binary section has only %d left "+
				"(%d bytes after the %s of the JSON header)", i, size, len(rest), len(section), HeaderLength)
		}
		in.Data = &api.TensorData{Binary: rest[:size:size]}
		rest = rest[size:]
	}
	if len(rest) > 0 {
		return errorf(CodeBinaryData, "binary section: %d bytes, %d more than the inputs' binary_data_size add up to",
			len(section), len(rest))
	}
	return nil
}

// AppendFP32 appends the little-endian bytes of v to b, an FP32 tensor's binary data.
func AppendFP32(b []byte, v []float32) []byte {
	for _, f := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	return b
}
