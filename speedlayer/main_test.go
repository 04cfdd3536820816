package speedlayer_test

import (
	"os"
	"testing"

	"github.com/lambda-platform/lambda/inference/ortenv"
)

// TestMain loads the real ONNX Runtime; without it the tests fail, they never skip. In
// a child process started by TestKillAndRestart it runs a consumer instead, and in one
// started by BenchmarkSpeedLayer the producer of the offered load.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	if os.Getenv(producerEnv) != "" {
		os.Exit(runProducer())
	}
	ortenv.Main(m)
}
