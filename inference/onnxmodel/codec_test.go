package onnxmodel_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
)

// sample is a model that uses every field the codec carries.
func sample() *onnxmodel.Model {
	w := onnxmodel.FloatTensor("w", []int64{2, 1}, []float32{0.5, -1.25})
	return &onnxmodel.Model{
		IRVersion:       onnxmodel.IRVersion,
		Opsets:          []onnxmodel.OpsetID{{Version: onnxmodel.Opset}, {Domain: "com.microsoft", Version: 1}},
		ProducerName:    "lambda",
		ProducerVersion: "test",
		ModelVersion:    3,
		DocString:       "sample",
		Metadata:        []onnxmodel.StringEntry{{Key: "features", Value: "a,b"}},
		Graph: onnxmodel.Graph{
			Name: "g",
			Nodes: []onnxmodel.Node{{
				Name: "n", OpType: "Op", Domain: "com.microsoft",
				Inputs: []string{"x", "w"}, Outputs: []string{"y"},
				Attributes: []onnxmodel.Attribute{
					{Name: "f", Type: onnxmodel.AttrFloat, F: 0.25},
					{Name: "i0", Type: onnxmodel.AttrInt}, // a zero value is written too
					{Name: "i", Type: onnxmodel.AttrInt, I: -7},
					{Name: "s", Type: onnxmodel.AttrString, S: []byte("text")},
					{Name: "t", Type: onnxmodel.AttrTensor, T: &w},
					{Name: "fs", Type: onnxmodel.AttrFloats, Floats: []float32{1, 2}},
					{Name: "is", Type: onnxmodel.AttrInts, Ints: []int64{-1, 0, 1 << 40}},
					{Name: "ss", Type: onnxmodel.AttrStrings, Strings: [][]byte{[]byte("a"), []byte("b")}},
				},
			}},
			Initializer: []onnxmodel.Tensor{
				w,
				{Name: "f", DataType: onnxmodel.Float, Dims: []int64{2}, FloatData: []float32{3, 4}},
				{Name: "i32", DataType: onnxmodel.Int8, Dims: []int64{2}, Int32Data: []int32{-3, 4}},
				{Name: "i64", DataType: onnxmodel.Int64, Dims: []int64{1}, Int64Data: []int64{-9}},
			},
			Inputs:  []onnxmodel.ValueInfo{{Name: "x", ElemType: onnxmodel.Float, Shape: onnxmodel.Shape{{Param: "N"}, {Value: 2}}}},
			Outputs: []onnxmodel.ValueInfo{{Name: "y", ElemType: onnxmodel.Float, Shape: onnxmodel.Shape{{Param: "N"}, {}}}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	want := sample()
	got, err := onnxmodel.Decode(want.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded model differs:\n got %+v\nwant %+v", got, want)
	}
	if s := got.Graph.Outputs[0].Shape.String(); s != "[N, ?]" {
		t.Errorf("shape %s, want [N, ?]", s)
	}
}

func TestFloats(t *testing.T) {
	for _, tensor := range sample().Graph.Initializer[:2] {
		if _, err := tensor.Floats(); err != nil {
			t.Errorf("Floats of %s: %v", tensor.Name, err)
		}
	}
	bad := onnxmodel.FloatTensor("w", []int64{3}, []float32{1, 2})
	if _, err := bad.Floats(); !errors.Is(err, onnxmodel.ErrMalformed) {
		t.Errorf("Floats of 2 values for dims [3]: %v, want ErrMalformed", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	valid := sample().Marshal()
	for name, b := range map[string][]byte{
		"empty":     nil,
		"truncated": valid[:len(valid)-1],
		"text":      []byte("not a model"),
		"no graph":  {0x08, 0x08}, // ir_version 8 and nothing else
		"no ir":     (&onnxmodel.Model{Graph: onnxmodel.Graph{Name: "g"}}).Marshal(),
	} {
		if _, err := onnxmodel.Decode(b); !errors.Is(err, onnxmodel.ErrMalformed) {
			t.Errorf("Decode(%s) = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzDecode checks that Decode never panics on outside input and that the models it
// accepts re-encode to a stable form.
func FuzzDecode(f *testing.F) {
	f.Add(sample().Marshal())
	lr, _ := onnxmodel.LogisticRegression{W: []float32{1, 2, 3}, B: 0.5}.Model()
	f.Add(lr.Marshal())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := onnxmodel.Decode(b)
		if err != nil {
			if !errors.Is(err, onnxmodel.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		once := m.Marshal()
		m2, err := onnxmodel.Decode(once)
		if err != nil {
			t.Fatalf("re-encoded model does not decode: %v", err)
		}
		if twice := m2.Marshal(); !bytes.Equal(once, twice) {
			t.Fatal("encoding is not stable across a decode")
		}
	})
}
