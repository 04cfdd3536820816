// Package onnxmodel builds, encodes and decodes ONNX models without cgo.
//
// It holds a small hand-written protobuf codec (google.golang.org/protobuf/encoding/protowire)
// for the part of onnx.proto the platform uses: ModelProto, OperatorSetIdProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto with tensor types, and the model's
// metadata_props. Fields outside that part are skipped on decode and not written on encode.
//
// The builders (LogisticRegression, MLP, DeepMLP) produce graphs with one input named InputName of
// shape [N, F] float32, N a symbolic batch dimension, and one output named OutputName of
// shape [N, 1] float32 holding a probability. Their Predict methods evaluate the same
// weights in pure Go, which is the reference the ONNX Runtime results are checked against.
package onnxmodel
