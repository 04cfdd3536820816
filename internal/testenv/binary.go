package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// MainWithLambda is a TestMain for packages that run the real binary: it builds
// ../cmd/lambda (relative to the test package) once into a temporary directory, sets
// *bin to it, runs the tests and exits with their code.
func MainWithLambda(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "lambda-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "lambda")
	build := exec.Command("go", "build", "-o", *bin, "../cmd/lambda")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lambda:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
