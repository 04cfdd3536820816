package onnxmodel

import (
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is returned for bytes that are not a valid ONNX model.
var ErrMalformed = errors.New("malformed onnx model")

// Decode reads an ONNX protobuf file. Fields outside the modelled part of onnx.proto are
// skipped. A model needs an IR version and a graph. Byte fields of the result (raw tensor
// data, string attributes) share memory with b.
func Decode(b []byte) (*Model, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty file: %w", ErrMalformed)
	}
	m := &Model{}
	var hasGraph bool
	err := walk(b, func(f field) error {
		var err error
		switch f.num {
		case modelIRVersion:
			m.IRVersion, err = f.int()
		case modelProducerName:
			m.ProducerName, err = f.str()
		case modelProducerVersion:
			m.ProducerVersion, err = f.str()
		case modelModelVersion:
			m.ModelVersion, err = f.int()
		case modelDocString:
			m.DocString, err = f.str()
		case modelGraph:
			hasGraph = true
			err = f.message("graph", m.Graph.decode)
		case modelOpsetImport:
			var o OpsetID
			err = f.message("opset_import", o.decode)
			m.Opsets = append(m.Opsets, o)
		case modelMetadataProps:
			var e StringEntry
			err = f.message("metadata_props", e.decode)
			m.Metadata = append(m.Metadata, e)
		}
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case m.IRVersion <= 0:
		return nil, fmt.Errorf("no ir_version: %w", ErrMalformed)
	case !hasGraph:
		return nil, fmt.Errorf("no graph: %w", ErrMalformed)
	}
	return m, nil
}

func (o *OpsetID) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch f.num {
		case opsetDomain:
			o.Domain, err = f.str()
		case opsetVersion:
			o.Version, err = f.int()
		}
		return err
	})
}

func (e *StringEntry) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch f.num {
		case entryKey:
			e.Key, err = f.str()
		case entryValue:
			e.Value, err = f.str()
		}
		return err
	})
}

func (g *Graph) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch f.num {
		case graphNode:
			var n Node
			err = f.message(fmt.Sprintf("node %d", len(g.Nodes)), n.decode)
			g.Nodes = append(g.Nodes, n)
		case graphName:
			g.Name, err = f.str()
		case graphInitializer:
			var t Tensor
			err = f.message(fmt.Sprintf("initializer %d", len(g.Initializer)), t.decode)
			g.Initializer = append(g.Initializer, t)
		case graphInput:
			var v ValueInfo
			err = f.message(fmt.Sprintf("input %d", len(g.Inputs)), v.decode)
			g.Inputs = append(g.Inputs, v)
		case graphOutput:
			var v ValueInfo
			err = f.message(fmt.Sprintf("output %d", len(g.Outputs)), v.decode)
			g.Outputs = append(g.Outputs, v)
		}
		return err
	})
}

func (n *Node) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		var s string
		switch f.num {
		case nodeInput:
			s, err = f.str()
			n.Inputs = append(n.Inputs, s)
		case nodeOutput:
			s, err = f.str()
			n.Outputs = append(n.Outputs, s)
		case nodeName:
			n.Name, err = f.str()
		case nodeOpType:
			n.OpType, err = f.str()
		case nodeAttribute:
			var a Attribute
			err = f.message("attribute", a.decode)
			n.Attributes = append(n.Attributes, a)
		case nodeDomain:
			n.Domain, err = f.str()
		}
		return err
	})
}

func (a *Attribute) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		var v uint64
		switch f.num {
		case attrName:
			a.Name, err = f.str()
		case attrType:
			v, err = f.varint()
			a.Type = AttributeType(v)
		case attrF:
			v, err = f.fixed32()
			a.F = math.Float32frombits(uint32(v))
		case attrI:
			a.I, err = f.int()
		case attrS:
			a.S, err = f.bytes()
		case attrT:
			a.T = &Tensor{}
			err = f.message("t", a.T.decode)
		case attrFloats:
			a.Floats, err = f.appendFloats(a.Floats)
		case attrInts:
			a.Ints, err = f.appendInts(a.Ints)
		case attrStrings:
			var s []byte
			s, err = f.bytes()
			a.Strings = append(a.Strings, s)
		}
		return err
	})
}

func (t *Tensor) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		var v uint64
		switch f.num {
		case tensorDims:
			t.Dims, err = f.appendInts(t.Dims)
		case tensorDataType:
			v, err = f.varint()
			t.DataType = DataType(v)
		case tensorFloatData:
			t.FloatData, err = f.appendFloats(t.FloatData)
		case tensorInt32Data:
			var ints []int64
			ints, err = f.appendInts(nil)
			for _, i := range ints {
				t.Int32Data = append(t.Int32Data, int32(i))
			}
		case tensorInt64Data:
			t.Int64Data, err = f.appendInts(t.Int64Data)
		case tensorName:
			t.Name, err = f.str()
		case tensorRawData:
			t.RawData, err = f.bytes()
		}
		return err
	})
}

// decode reads a ValueInfoProto; a type other than a tensor leaves ElemType Undefined.
func (v *ValueInfo) decode(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case valueInfoName:
			var err error
			v.Name, err = f.str()
			return err
		case valueInfoType:
			return f.message("type", func(b []byte) error {
				return walk(b, func(f field) error {
					if f.num != typeTensor {
						return nil
					}
					return f.message("tensor_type", v.decodeTensorType)
				})
			})
		}
		return nil
	})
}

func (v *ValueInfo) decodeTensorType(b []byte) error {
	return walk(b, func(f field) error {
		switch f.num {
		case tensorTypeElemType:
			e, err := f.varint()
			v.ElemType = DataType(e)
			return err
		case tensorTypeShape:
			return f.message("shape", func(b []byte) error {
				return walk(b, func(f field) error {
					if f.num != shapeDim {
						return nil
					}
					var d Dim
					err := f.message("dim", d.decode)
					v.Shape = append(v.Shape, d)
					return err
				})
			})
		}
		return nil
	})
}

func (d *Dim) decode(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch f.num {
		case dimValue:
			d.Value, err = f.int()
		case dimParam:
			d.Param, err = f.str()
		}
		return err
	})
}

// field is one decoded protobuf field: u holds a varint or fixed value, b a length-delimited one.
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// walk calls fn for every field of a message, in order.
func walk(b []byte, fn func(field) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("tag: %v: %w", protowire.ParseError(n), ErrMalformed)
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(b)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return fmt.Errorf("field %d: %v: %w", num, protowire.ParseError(n), ErrMalformed)
		}
		b = b[n:]
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

func (f field) wrongType() error {
	return fmt.Errorf("field %d has wire type %d: %w", f.num, f.typ, ErrMalformed)
}

func (f field) varint() (uint64, error) {
	if f.typ != protowire.VarintType {
		return 0, f.wrongType()
	}
	return f.u, nil
}

func (f field) int() (int64, error) {
	v, err := f.varint()
	return int64(v), err
}

func (f field) fixed32() (uint64, error) {
	if f.typ != protowire.Fixed32Type {
		return 0, f.wrongType()
	}
	return f.u, nil
}

func (f field) bytes() ([]byte, error) {
	if f.typ != protowire.BytesType {
		return nil, f.wrongType()
	}
	return f.b, nil
}

func (f field) str() (string, error) {
	b, err := f.bytes()
	return string(b), err
}

// message decodes a sub-message with dec, naming it in errors.
func (f field) message(name string, dec func([]byte) error) error {
	b, err := f.bytes()
	if err == nil {
		err = dec(b)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// appendInts reads a repeated varint field, packed or not.
func (f field) appendInts(dst []int64) ([]int64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(dst, int64(f.u)), nil
	case protowire.BytesType:
		for b := f.b; len(b) > 0; {
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, fmt.Errorf("packed field %d: %v: %w", f.num, protowire.ParseError(n), ErrMalformed)
			}
			dst = append(dst, int64(v))
			b = b[n:]
		}
		return dst, nil
	}
	return nil, f.wrongType()
}

// appendFloats reads a repeated float field, packed or not.
func (f field) appendFloats(dst []float32) ([]float32, error) {
	switch f.typ {
	case protowire.Fixed32Type:
		return append(dst, math.Float32frombits(uint32(f.u))), nil
	case protowire.BytesType:
		if len(f.b)%4 != 0 {
			return nil, fmt.Errorf("packed field %d has %d bytes: %w", f.num, len(f.b), ErrMalformed)
		}
		for b := f.b; len(b) > 0; b = b[4:] {
			v, _ := protowire.ConsumeFixed32(b)
			dst = append(dst, math.Float32frombits(v))
		}
		return dst, nil
	}
	return nil, f.wrongType()
}
