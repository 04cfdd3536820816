package inference_test

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/ortenv"
)

func TestRuntimeVersion(t *testing.T) {
	if v := inference.RuntimeVersion(); !strings.HasPrefix(v, "1.") {
		t.Fatalf("RuntimeVersion() = %q, want 1.x", v)
	}
}

// TestInitRuntime runs in a child process, whose runtime is not loaded yet: errors before the
// library is loaded, then concurrent InitRuntime calls.
func TestInitRuntime(t *testing.T) {
	if os.Getenv(freshEnv) == "" {
		lib, err := ortenv.Library()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestInitRuntime$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), freshEnv+"=1", inference.LibraryEnv+"="+lib)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestInitRuntime") {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}
	lib := os.Getenv(inference.LibraryEnv)

	if v := inference.RuntimeVersion(); v != "" {
		t.Errorf("RuntimeVersion() before InitRuntime = %q, want empty", v)
	}
	if _, err := inference.LoadModel(newLR(t, 1).onnx, inference.Meta{Name: "lr"}, inference.Options{}); !errors.Is(err, inference.ErrRuntimeNotInitialized) {
		t.Errorf("LoadModel before InitRuntime: %v, want ErrRuntimeNotInitialized", err)
	}

	dir := t.TempDir()
	notALibrary := filepath.Join(dir, "libonnxruntime.so")
	if err := os.WriteFile(notALibrary, []byte("not a shared library"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, want string
		is         error
	}{
		{"", "set LAMBDA_ORT_LIB", inference.ErrRuntimeUnavailable},
		{filepath.Join(dir, "missing.so"), "missing.so", fs.ErrNotExist},
		{notALibrary, "load " + notALibrary, inference.ErrRuntimeUnavailable},
	} {
		err := inference.InitRuntime(c.path)
		if !errors.Is(err, inference.ErrRuntimeUnavailable) || !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("InitRuntime(%q) = %v; want ErrRuntimeUnavailable saying %q", c.path, err, c.want)
		}
		t.Log(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = inference.InitRuntime(lib) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent InitRuntime: %v", err)
	}
	if v := inference.RuntimeVersion(); !strings.HasPrefix(v, "1.") {
		t.Errorf("RuntimeVersion() = %q, want 1.x", v)
	}
	if err := inference.InitRuntime(notALibrary); err == nil || !strings.Contains(err.Error(), "already loaded") {
		t.Errorf("InitRuntime of a second library: %v, want already loaded", err)
	}
	m, err := inference.LoadModel(newLR(t, 1).onnx, inference.Meta{Name: "lr"}, inference.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}
