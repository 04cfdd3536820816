// Package ortenv loads the real ONNX Runtime for tests, so that a test package needs one
// line: func TestMain(m *testing.M) { ortenv.Main(m) }. Without the library the tests fail
// loudly; they never skip.
package ortenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lambda-platform/lambda/inference"
)

// cacheGlob is where `make services-up` puts the library, relative to the module root.
const cacheGlob = ".cache/onnxruntime/libonnxruntime.so.*"

// Main loads the runtime, then runs the tests and exits with their status; without the
// runtime it exits with status 1 and says how to get it.
func Main(m *testing.M) {
	lib, err := Library()
	if err == nil {
		err = inference.InitRuntime(lib)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: ONNX Runtime: %v\nthese tests need the real library: set %s "+
			"to libonnxruntime.so, or run `make services-up` to fetch it into %s\n", err, inference.LibraryEnv, filepath.Dir(cacheGlob))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// Library returns $LAMBDA_ORT_LIB, or else the newest library in the module's .cache
// directory, found from the working directory upwards.
func Library() (string, error) {
	if lib := os.Getenv(inference.LibraryEnv); lib != "" {
		return lib, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			libs, _ := filepath.Glob(filepath.Join(dir, cacheGlob))
			if len(libs) == 0 {
				return "", fmt.Errorf("%s is not set and %s matches nothing", inference.LibraryEnv, filepath.Join(dir, cacheGlob))
			}
			return libs[len(libs)-1], nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
