package inference_test

import (
	"os"
	"testing"

	"github.com/lambda-platform/lambda/inference/ortenv"
)

// freshEnv makes TestMain leave the runtime unloaded, for tests that run in a child process.
const freshEnv = "LAMBDA_INFERENCE_TEST_FRESH"

// TestMain loads the real ONNX Runtime; without it the tests fail, they never skip.
func TestMain(m *testing.M) {
	if os.Getenv(freshEnv) != "" {
		os.Exit(m.Run())
	}
	ortenv.Main(m)
}
