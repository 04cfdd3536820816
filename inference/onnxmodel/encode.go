package onnxmodel

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of onnx.proto, named <message><field>.
const (
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelModelVersion    = 5
	modelDocString       = 6
	modelGraph           = 7
	modelOpsetImport     = 8
	modelMetadataProps   = 14

	opsetDomain  = 1
	opsetVersion = 2

	entryKey   = 1
	entryValue = 2

	graphNode        = 1
	graphName        = 2
	graphInitializer = 5
	graphInput       = 11
	graphOutput      = 12

	nodeInput     = 1
	nodeOutput    = 2
	nodeName      = 3
	nodeOpType    = 4
	nodeAttribute = 5
	nodeDomain    = 7

	attrName    = 1
	attrF       = 2
	attrI       = 3
	attrS       = 4
	attrT       = 5
	attrFloats  = 7
	attrInts    = 8
	attrStrings = 9
	attrType    = 20

	tensorDims      = 1
	tensorDataType  = 2
	tensorFloatData = 4
	tensorInt32Data = 5
	tensorInt64Data = 7
	tensorName      = 8
	tensorRawData   = 9

	valueInfoName = 1
	valueInfoType = 2

	typeTensor = 1 // TypeProto.tensor_type

	tensorTypeElemType = 1 // TypeProto.Tensor
	tensorTypeShape    = 2

	shapeDim = 1 // TensorShapeProto

	dimValue = 1 // TensorShapeProto.Dimension
	dimParam = 2
)

// Marshal encodes the model as an ONNX protobuf file.
func (m *Model) Marshal() []byte {
	var b []byte
	b = appendInt(b, modelIRVersion, m.IRVersion)
	b = appendString(b, modelProducerName, m.ProducerName)
	b = appendString(b, modelProducerVersion, m.ProducerVersion)
	b = appendInt(b, modelModelVersion, m.ModelVersion)
	b = appendString(b, modelDocString, m.DocString)
	b = appendLen(b, modelGraph, m.Graph.append(nil))
	for _, o := range m.Opsets {
		var ob []byte
		ob = appendString(ob, opsetDomain, o.Domain)
		ob = protowire.AppendTag(ob, opsetVersion, protowire.VarintType)
		ob = protowire.AppendVarint(ob, uint64(o.Version))
		b = appendLen(b, modelOpsetImport, ob)
	}
	for _, e := range m.Metadata {
		var eb []byte
		eb = appendString(eb, entryKey, e.Key)
		eb = appendString(eb, entryValue, e.Value)
		b = appendLen(b, modelMetadataProps, eb)
	}
	return b
}

func (g *Graph) append(b []byte) []byte {
	for i := range g.Nodes {
		b = appendLen(b, graphNode, g.Nodes[i].append(nil))
	}
	b = appendString(b, graphName, g.Name)
	for i := range g.Initializer {
		b = appendLen(b, graphInitializer, g.Initializer[i].append(nil))
	}
	for i := range g.Inputs {
		b = appendLen(b, graphInput, g.Inputs[i].append(nil))
	}
	for i := range g.Outputs {
		b = appendLen(b, graphOutput, g.Outputs[i].append(nil))
	}
	return b
}

func (n *Node) append(b []byte) []byte {
	for _, s := range n.Inputs {
		b = protowire.AppendTag(b, nodeInput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	for _, s := range n.Outputs {
		b = protowire.AppendTag(b, nodeOutput, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	b = appendString(b, nodeName, n.Name)
	b = appendString(b, nodeOpType, n.OpType)
	for i := range n.Attributes {
		b = appendLen(b, nodeAttribute, n.Attributes[i].append(nil))
	}
	return appendString(b, nodeDomain, n.Domain)
}

// append writes the name, the type and the value field the type selects, even when that
// value is zero: an attribute must carry its value.
func (a *Attribute) append(b []byte) []byte {
	b = appendString(b, attrName, a.Name)
	b = protowire.AppendTag(b, attrType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(a.Type))
	switch a.Type {
	case AttrFloat:
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.F))
	case AttrInt:
		b = protowire.AppendTag(b, attrI, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.I))
	case AttrString:
		b = protowire.AppendTag(b, attrS, protowire.BytesType)
		b = protowire.AppendBytes(b, a.S)
	case AttrTensor:
		if a.T != nil {
			b = appendLen(b, attrT, a.T.append(nil))
		}
	case AttrFloats:
		b = appendPackedFloats(b, attrFloats, a.Floats)
	case AttrInts:
		b = appendPackedInts(b, attrInts, a.Ints)
	case AttrStrings:
		for _, s := range a.Strings {
			b = protowire.AppendTag(b, attrStrings, protowire.BytesType)
			b = protowire.AppendBytes(b, s)
		}
	}
	return b
}

func (t *Tensor) append(b []byte) []byte {
	b = appendPackedInts(b, tensorDims, t.Dims)
	b = protowire.AppendTag(b, tensorDataType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(t.DataType))
	b = appendPackedFloats(b, tensorFloatData, t.FloatData)
	if len(t.Int32Data) > 0 {
		var p []byte
		for _, v := range t.Int32Data {
			p = protowire.AppendVarint(p, uint64(int64(v)))
		}
		b = appendLen(b, tensorInt32Data, p)
	}
	b = appendPackedInts(b, tensorInt64Data, t.Int64Data)
	b = appendString(b, tensorName, t.Name)
	if t.RawData != nil {
		b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
		b = protowire.AppendBytes(b, t.RawData)
	}
	return b
}

func (v *ValueInfo) append(b []byte) []byte {
	var shape []byte
	for _, d := range v.Shape {
		var db []byte
		if d.Param != "" {
			db = appendString(db, dimParam, d.Param)
		} else if d.Value > 0 {
			db = appendInt(db, dimValue, d.Value)
		}
		shape = appendLen(shape, shapeDim, db)
	}
	var tt []byte
	tt = protowire.AppendTag(tt, tensorTypeElemType, protowire.VarintType)
	tt = protowire.AppendVarint(tt, uint64(v.ElemType))
	tt = appendLen(tt, tensorTypeShape, shape)

	b = appendString(b, valueInfoName, v.Name)
	return appendLen(b, valueInfoType, appendLen(nil, typeTensor, tt))
}

// appendLen writes a length-delimited field: a message, a string or a packed list.
func appendLen(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// appendString writes a non-empty string; proto2 reads an absent one as "".
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendInt writes a non-zero int64; proto2 reads an absent one as 0.
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendPackedInts(b []byte, num protowire.Number, vs []int64) []byte {
	if len(vs) == 0 {
		return b
	}
	var p []byte
	for _, v := range vs {
		p = protowire.AppendVarint(p, uint64(v))
	}
	return appendLen(b, num, p)
}

func appendPackedFloats(b []byte, num protowire.Number, vs []float32) []byte {
	if len(vs) == 0 {
		return b
	}
	p := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		p = protowire.AppendFixed32(p, math.Float32bits(v))
	}
	return appendLen(b, num, p)
}
