package batchrun_test

import (
	"testing"

	"github.com/lambda-platform/lambda/inference/ortenv"
)

// TestMain loads the real ONNX Runtime; without it the tests fail, they never skip.
func TestMain(m *testing.M) { ortenv.Main(m) }
