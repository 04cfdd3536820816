package onnxmodel

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Versions written by the builders: IR version 8 goes with opsets up to 17 (ONNX 1.12), which
// ONNX Runtime 1.30 and onnxruntime-web load, and which has every operator INT8 needs.
const (
	IRVersion = 8
	Opset     = 17
)

// DataType is TensorProto.DataType.
type DataType int32

// The tensor element types the platform uses.
const (
	Undefined DataType = 0
	Float     DataType = 1
	Uint8     DataType = 2
	Int8      DataType = 3
	Int32     DataType = 6
	Int64     DataType = 7
)

// dataTypeNames are the onnx.proto names of TensorProto.DataType values 0-16.
var dataTypeNames = [...]string{"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64",
	"STRING", "BOOL", "FLOAT16", "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"}

// String returns the onnx.proto name of the type, such as FLOAT.
func (t DataType) String() string {
	if t >= 0 && int(t) < len(dataTypeNames) {
		return dataTypeNames[t]
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// Model is ModelProto.
type Model struct {
	IRVersion       int64
	Opsets          []OpsetID
	ProducerName    string
	ProducerVersion string
	ModelVersion    int64
	DocString       string
	Graph           Graph
	Metadata        []StringEntry
}

// OpsetID is OperatorSetIdProto; an empty Domain is the default ONNX operator set.
type OpsetID struct {
	Domain  string
	Version int64
}

// StringEntry is StringStringEntryProto, one metadata_props pair.
type StringEntry struct {
	Key, Value string
}

// Graph is GraphProto.
type Graph struct {
	Name        string
	Nodes       []Node
	Initializer []Tensor
	Inputs      []ValueInfo
	Outputs     []ValueInfo
}

// Node is NodeProto.
type Node struct {
	Name       string
	OpType     string
	Domain     string
	Inputs     []string
	Outputs    []string
	Attributes []Attribute
}

// AttributeType is AttributeProto.AttributeType.
type AttributeType int32

// The attribute types the codec carries.
const (
	AttrFloat   AttributeType = 1
	AttrInt     AttributeType = 2
	AttrString  AttributeType = 3
	AttrTensor  AttributeType = 4
	AttrFloats  AttributeType = 6
	AttrInts    AttributeType = 7
	AttrStrings AttributeType = 8
)

// Attribute is AttributeProto; Type says which value field is in use.
type Attribute struct {
	Name    string
	Type    AttributeType
	F       float32
	I       int64
	S       []byte
	T       *Tensor
	Floats  []float32
	Ints    []int64
	Strings [][]byte
}

// Tensor is TensorProto. Element data lives in RawData (little-endian, as the builders write
// it) or in one of the typed fields, as decoded from files written by other tools.
type Tensor struct {
	Name      string
	DataType  DataType
	Dims      []int64
	RawData   []byte
	FloatData []float32
	Int32Data []int32
	Int64Data []int64
}

// ValueInfo is ValueInfoProto for a tensor: name, element type and shape. Another type
// (sequence, map) decodes as ElemType Undefined without a shape.
type ValueInfo struct {
	Name     string
	ElemType DataType
	Shape    Shape
}

// Shape is a tensor shape, one Dim per axis.
type Shape []Dim

// String renders the shape as [N, 16].
func (s Shape) String() string {
	dims := make([]string, len(s))
	for i, d := range s {
		dims[i] = d.String()
	}
	return "[" + strings.Join(dims, ", ") + "]"
}

// Dim is one TensorShapeProto.Dimension: a fixed size (Value), a symbolic name (Param), or
// neither when the size is unknown.
type Dim struct {
	Value int64
	Param string
}

// String renders a dimension as its size, its symbolic name, or "?".
func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value > 0:
		return fmt.Sprint(d.Value)
	default:
		return "?"
	}
}

// FloatTensor returns a float32 tensor stored as raw data.
func FloatTensor(name string, dims []int64, values []float32) Tensor {
	raw := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DataType: Float, Dims: dims, RawData: raw}
}

// Floats returns the elements of a float32 tensor, from raw data or float_data.
func (t Tensor) Floats() ([]float32, error) {
	if t.DataType != Float {
		return nil, fmt.Errorf("tensor %q has data type %d, not float: %w", t.Name, t.DataType, ErrMalformed)
	}
	n, err := t.elements()
	if err != nil {
		return nil, err
	}
	if t.RawData == nil {
		if int64(len(t.FloatData)) != n {
			return nil, fmt.Errorf("tensor %q has %d floats for dims %v: %w", t.Name, len(t.FloatData), t.Dims, ErrMalformed)
		}
		return t.FloatData, nil
	}
	if int64(len(t.RawData)) != 4*n {
		return nil, fmt.Errorf("tensor %q has %d raw bytes for dims %v: %w", t.Name, len(t.RawData), t.Dims, ErrMalformed)
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
	}
	return out, nil
}

// elements returns the number of elements the tensor's dims describe.
func (t Tensor) elements() (int64, error) {
	n := int64(1)
	for _, d := range t.Dims {
		if d < 0 || (d > 0 && n > math.MaxInt32/d) {
			return 0, fmt.Errorf("tensor %q has dims %v: %w", t.Name, t.Dims, ErrMalformed)
		}
		n *= d
	}
	return n, nil
}
