package inference_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lambda-platform/lambda/inference"
)

// freshEnv makes TestMain leave the runtime unloaded, for tests that run in a child process.
const freshEnv = "LAMBDA_INFERENCE_TEST_FRESH"

// TestMain loads the real ONNX Runtime; without it the tests fail, they never skip.
func TestMain(m *testing.M) {
	if os.Getenv(freshEnv) == "" {
		lib, err := library()
		if err == nil {
			err = inference.InitRuntime(lib)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: ONNX Runtime: %v\nthe inference tests need the real library: set %s "+
				"to libonnxruntime.so, or run `make services-up` to fetch it into .cache/onnxruntime\n", err, inference.LibraryEnv)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// library returns $LAMBDA_ORT_LIB, or the library `make services-up` puts in the repo's
// .cache directory.
func library() (string, error) {
	if lib := os.Getenv(inference.LibraryEnv); lib != "" {
		return lib, nil
	}
	libs, _ := filepath.Glob("../.cache/onnxruntime/libonnxruntime.so.*")
	if len(libs) == 0 {
		return "", fmt.Errorf("%s is not set and ../.cache/onnxruntime holds no libonnxruntime.so.*", inference.LibraryEnv)
	}
	return filepath.Abs(libs[len(libs)-1])
}
