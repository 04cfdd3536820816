package speedlayer_test

import (
	"os"
	"testing"

	"github.com/lambda-platform/lambda/inference/ortenv"
)

// TestMain loads the real ONNX Runtime; without it the tests fail, they never skip. In
// a child process started by TestKillAndRestart it runs a consumer instead.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	ortenv.Main(m)
}
