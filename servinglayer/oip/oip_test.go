package oip_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/servinglayer/api"
	"github.com/lambda-platform/lambda/servinglayer/oip"
)

// read decodes a request body as the server does: split by its header length, the JSON
// header decoded, the binary section attached, the first input's values converted.
func read(body []byte, headerLength string) ([]float32, error) {
	header, section, err := oip.Split(body, headerLength)
	if err != nil {
		return nil, err
	}
	var req api.OIPInferRequest
	if err := json.Unmarshal(header, &req); err != nil {
		return nil, err
	}
	if err := oip.Attach(&req, section); err != nil {
		return nil, err
	}
	if len(req.Inputs) == 0 {
		return nil, errors.New("no input")
	}
	return oip.Tensor("inputs[0]", req.Inputs[0])
}

func input(shape, datatype, rest string) string {
	return `{"inputs":[{"name":"x","shape":` + shape + `,"datatype":"` + datatype + `"` + rest + `}]}`
}

func withBinary(header string, section []byte) ([]byte, string) {
	return append([]byte(header), section...), strconv.Itoa(len(header))
}

func TestTensor(t *testing.T) {
	le := func(size int, put func(b []byte, i int)) []byte {
		b := make([]byte, 3*size)
		for i := range 3 {
			put(b[i*size:], i)
		}
		return b
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		length string
		want   []float32
	}{
		{"FP32 flat", []byte(input("[1,3]", "FP32", `,"data":[1.5,-2,3e2]`)), "", []float32{1.5, -2, 300}},
		{"FP32 nested", []byte(input("[2,2]", "FP32", `,"data":[[1,2],[3,4]]`)), "", []float32{1, 2, 3, 4}},
		{"spaces", []byte(input("[2,1]", "FP32", `,"data": [ [ 1 ] , [ 2 ] ] `)), "", []float32{1, 2}},
		{"no rows", []byte(input("[0,3]", "FP32", `,"data":[]`)), "", []float32{}},
		{"FP64", []byte(input("[1,2]", "FP64", `,"data":[0.1,1e300e0]`)), "", nil}, // invalid JSON number: never reaches Tensor
		{"FP64 rounded", []byte(input("[1,2]", "FP64", `,"data":[0.1,16777217]`)), "", []float32{0.1, 16777216}},
		{"INT8", []byte(input("[1,3]", "INT8", `,"data":[-128,0,127]`)), "", []float32{-128, 0, 127}},
		{"UINT64", []byte(input("[1,1]", "UINT64", `,"data":[18446744073709551615]`)), "", []float32{1.8446744e19}},
		{"FP32 binary", nil, "", []float32{1, 2, 3}},
		{"FP64 binary", nil, "", []float32{0, 1, 2}},
		{"INT16 binary", nil, "", []float32{-1, 0, 1}},
		{"UINT32 binary", nil, "", []float32{0, 4294967295, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, length := tc.body, tc.length
			switch tc.name {
			case "FP32 binary":
				body, length = withBinary(input("[1,3]", "FP32", `,"parameters":{"binary_data_size":12}`),
					le(4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, math.Float32bits(float32(i+1))) }))
			case "FP64 binary":
				body, length = withBinary(input("[3,1]", "FP64", `,"parameters":{"binary_data_size":24}`),
					le(8, func(b []byte, i int) { binary.LittleEndian.PutUint64(b, math.Float64bits(float64(i))) }))
			case "INT16 binary":
				body, length = withBinary(input("[1,3]", "INT16", `,"parameters":{"binary_data_size":6}`),
					le(2, func(b []byte, i int) { binary.LittleEndian.PutUint16(b, uint16(int16(i-1))) }))
			case "UINT32 binary":
				body, length = withBinary(input("[1,3]", "UINT32", `,"parameters":{"binary_data_size":12}`),
					le(4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, []uint32{0, math.MaxUint32, 2}[i]) }))
			}
			got, err := read(body, length)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("%s: no error", body)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, %v; want %v", body, got, err, tc.want)
			}
		})
	}
}

// TestBadTensors: every malformed input is an *oip.Error with the code of the rule it
// breaks and a message naming the problem.
func TestBadTensors(t *testing.T) {
	fp32x3, n := withBinary(input("[1,3]", "FP32", `,"parameters":{"binary_data_size":12}`), make([]byte, 12))
	for _, tc := range []struct {
		name   string
		body   string
		length string
		code   string
		want   string
	}{
		{"BOOL", input("[1,2]", "BOOL", `,"data":[true,false]`), "", oip.CodeDatatype, "BOOL is not served"},
		{"BYTES", input("[1,1]", "BYTES", `,"data":["a"]`), "", oip.CodeDatatype, "BYTES is not served"},
		{"unknown datatype", input("[1,1]", "FP8", `,"data":[1]`), "", oip.CodeDatatype, `unknown datatype "FP8"`},
		{"one dimension", input("[3]", "FP32", `,"data":[1,2,3]`), "", oip.CodeShape, "shape: [3]"},
		{"negative rows", input("[-1,3]", "FP32", `,"data":[1,2,3]`), "", oip.CodeShape, "shape: [-1 3]"},
		{"no features", input("[1,0]", "FP32", `,"data":[]`), "", oip.CodeShape, "shape"},
		{"huge shape", input("[4294967296,4294967296]", "FP32", `,"data":[1]`), "", oip.CodeShape, "more than"},
		{"too few values", input("[2,3]", "FP32", `,"data":[1,2,3]`), "", oip.CodeShape, "3 values do not fill shape [2, 3]"},
		{"too many values", input("[1,3]", "FP32", `,"data":[1,2,3,4]`), "", oip.CodeShape, "4 values do not fill"},
		{"short row", input("[2,2]", "FP32", `,"data":[[1,2],[3]]`), "", oip.CodeShape, "data[1]: 1 values"},
		{"missing row", input("[2,2]", "FP32", `,"data":[[1,2]]`), "", oip.CodeShape, "2 values do not fill shape [2, 2]"},
		{"mixed nesting", input("[2,2]", "FP32", `,"data":[[1,2],3,4]`), "", oip.CodeData, "mixes numbers and arrays"},
		{"too deep", input("[1,2]", "FP32", `,"data":[[[1,2]]]`), "", oip.CodeData, "nested too deep"},
		{"string", input("[1,2]", "FP32", `,"data":[1,"2"]`), "", oip.CodeData, "data[1]: a string"},
		{"boolean", input("[1,2]", "FP32", `,"data":[1,true]`), "", oip.CodeData, "a boolean"},
		{"null", input("[1,2]", "FP32", `,"data":[1,null]`), "", oip.CodeData, "null"},
		{"not an array", input("[1,1]", "FP32", `,"data":1`), "", oip.CodeData, "not an array"},
		{"no data", input("[1,1]", "FP32", ``), "", oip.CodeData, "data: missing"},
		{"FP32 overflow", input("[1,1]", "FP32", `,"data":[1e39]`), "", oip.CodeData, "1e39 is not a FP32 value"},
		{"FP64 beyond FP32", input("[1,1]", "FP64", `,"data":[1e300]`), "", oip.CodeData, "1e300 is beyond FP32's range"},
		{"fraction as INT32", input("[1,1]", "INT32", `,"data":[1.5]`), "", oip.CodeData, "1.5 is not a INT32 value"},
		{"INT8 overflow", input("[1,1]", "INT8", `,"data":[128]`), "", oip.CodeData, "128 is not a INT8 value"},
		{"negative UINT8", input("[1,1]", "UINT8", `,"data":[-1]`), "", oip.CodeData, "-1 is not a UINT8 value"},
		{"header length beyond the body", string(fp32x3), "1000", oip.CodeBinaryData, "1000, but the body has only"},
		{"header length not a number", string(fp32x3), "12b", oip.CodeBinaryData, "not a byte count"},
		{"negative header length", string(fp32x3), "-1", oip.CodeBinaryData, "not a byte count"},
		{"binary section shorter than its size", string(fp32x3[:len(fp32x3)-1]), n, oip.CodeBinaryData, "12 bytes, but the binary section has only 11"},
		{"binary section longer than its size", string(fp32x3) + "x", n, oip.CodeBinaryData, "13 bytes, 1 more than"},
		{"binary section without a size", input("[1,1]", "FP32", `,"data":[1]`) + "abcd", strconv.Itoa(len(input("[1,1]", "FP32", `,"data":[1]`))),
			oip.CodeBinaryData, "4 bytes, 4 more than"},
		{"size without a section", input("[1,3]", "FP32", `,"parameters":{"binary_data_size":12}`), "", oip.CodeBinaryData, "only 0 left"},
		{"size not the shape's", string(must(withBinary(input("[1,3]", "FP32", `,"parameters":{"binary_data_size":8}`), make([]byte, 8)))),
			strconv.Itoa(len(input("[1,3]", "FP32", `,"parameters":{"binary_data_size":8}`))), oip.CodeBinaryData, "binary_data_size 8 bytes, but the shape holds 3 FP32 values"},
		{"data and binary", input("[1,1]", "FP32", `,"data":[1],"parameters":{"binary_data_size":4}`) + "abcd",
			strconv.Itoa(len(input("[1,1]", "FP32", `,"data":[1],"parameters":{"binary_data_size":4}`))), oip.CodeBinaryData, "both data and"},
		{"negative size", input("[1,1]", "FP32", `,"parameters":{"binary_data_size":-4}`), "", oip.CodeBinaryData, "binary_data_size: -4"},
		{"FP64 binary beyond FP32", string(must(withBinary(input("[1,1]", "FP64", `,"parameters":{"binary_data_size":8}`),
			binary.LittleEndian.AppendUint64(nil, math.Float64bits(1e300))))), strconv.Itoa(len(input("[1,1]", "FP64", `,"parameters":{"binary_data_size":8}`))),
			oip.CodeData, "beyond FP32's range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read([]byte(tc.body), tc.length)
			var oe *oip.Error
			if !errors.As(err, &oe) || oe.Code != tc.code || !strings.Contains(oe.Msg, tc.want) {
				t.Errorf("%q: error %v (%T); want code %s mentioning %q", tc.body, err, err, tc.code, tc.want)
			}
		})
	}
}

func must(b []byte, _ string) []byte { return b }

// FuzzBinaryExtension feeds arbitrary bodies and header lengths to the binary tensor
// data extension's parser and the tensor decoder: they never panic, and what they accept
// has exactly the values the shape asks for.
func FuzzBinaryExtension(f *testing.F) {
	b, n := withBinary(input("[1,3]", "FP32", `,"parameters":{"binary_data_size":12}`), make([]byte, 12))
	f.Add(b, n)
	b, n = withBinary(input("[2,1]", "INT64", `,"parameters":{"binary_data_size":16}`), make([]byte, 16))
	f.Add(b, n)
	b, n = withBinary(`{"inputs":[{"name":"a","shape":[1,1],"datatype":"UINT8","parameters":{"binary_data_size":1}},`+
		`{"name":"b","shape":[1,1],"datatype":"FP64","parameters":{"binary_data_size":8}}]}`, make([]byte, 9))
	f.Add(b, n)
	f.Add([]byte(input("[2,2]", "FP64", `,"data":[[1,2],[3,4]]`)), "")
	f.Add([]byte(input("[1,2]", "INT8", `,"data":[1,-1]`)), "")
	f.Add([]byte(input("[0,2]", "FP32", `,"data":[]`)), "")
	f.Add([]byte(input("[1,1]", "FP32", `,"parameters":{"binary_data_size":4}`)+"\x00\x00\x80\x7f"), "87")
	f.Add([]byte("{}"), "99")
	f.Fuzz(func(t *testing.T, body []byte, length string) {
		values, err := read(body, length)
		if err != nil {
			return
		}
		header, _, _ := oip.Split(body, length)
		var req api.OIPInferRequest
		_ = json.Unmarshal(header, &req)
		if shape := req.Inputs[0].Shape; int64(len(values)) != shape[0]*shape[1] {
			t.Fatalf("%d values for shape %v", len(values), shape)
		}
	})
}

// TestTensorDataRoundTrip: a request decoded and encoded again keeps its data as sent.
func TestTensorDataRoundTrip(t *testing.T) {
	in := input("[2,2]", "INT64", `,"data":[[1,2],[3,4]]`)
	var req api.OIPInferRequest
	if err := json.Unmarshal([]byte(in), &req); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(req)
	if err != nil || !strings.Contains(string(out), `"data":[[1,2],[3,4]]`) {
		t.Errorf("%s, %v", out, err)
	}
}
