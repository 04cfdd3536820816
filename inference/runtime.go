package inference

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// LibraryEnv names the environment variable that holds the path of the ONNX Runtime shared
// library (libonnxruntime.so), as `make services-up` fetches it.
const LibraryEnv = "LAMBDA_ORT_LIB"

var runtimeState struct {
	sync.Mutex
	lib string // absolute path of the loaded library, "" until InitRuntime succeeds
}

// InitRuntime loads the ONNX Runtime shared library at libPath and creates the process-wide
// runtime environment. It is safe for concurrent callers: the first successful call loads the
// library, later calls with the same path return nil, a call with another path fails because a
// process holds one runtime. A failed call can be retried.
func InitRuntime(libPath string) error {
	if libPath == "" {
		return fmt.Errorf("%w: no library path (set %s)", ErrRuntimeUnavailable, LibraryEnv)
	}
	abs, err := filepath.Abs(libPath)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRuntimeUnavailable, libPath, err)
	}

	runtimeState.Lock()
	defer runtimeState.Unlock()
	switch runtimeState.lib {
	case abs:
		return nil
	case "":
	default:
		return fmt.Errorf("%w: %s requested, %s already loaded", ErrRuntimeUnavailable, abs, runtimeState.lib)
	}
	if _, err := os.Stat(abs); err != nil {
		return fmt.Errorf("%w: %w", ErrRuntimeUnavailable, err)
	}
	ort.SetSharedLibraryPath(abs)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("%w: load %s: %w", ErrRuntimeUnavailable, abs, err)
	}
	runtimeState.lib = abs
	return nil
}

// RuntimeVersion returns the version of the loaded ONNX Runtime library, such as "1.30.0",
// or "" before InitRuntime has succeeded.
func RuntimeVersion() string {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	if runtimeState.lib == "" {
		return ""
	}
	return ort.GetVersion()
}

// runtimeReady reports whether InitRuntime has succeeded.
func runtimeReady() bool {
	runtimeState.Lock()
	defer runtimeState.Unlock()
	return runtimeState.lib != ""
}
