package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lambda-platform/lambda/inference"
	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// TestModelCommands runs the model subcommands against a fresh database: train and
// activate, list, activate and roll back, import and quantize; then a watcher serves the
// trained version.
func TestModelCommands(t *testing.T) {
	pool, url := testenv.Postgres(t)
	lib, err := ortenv.Library()
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"--postgres-url", url, "--ort-lib", lib, "--log-level", "warn"}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := modelMain(t.Context(), append(args, common...), &out)
		t.Logf("lambda model %s:\n%s", strings.Join(args, " "), out.String())
		return out.String(), err
	}
	mustRun := func(want *regexp.Regexp, args ...string) {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("lambda model %s: %v", strings.Join(args, " "), err)
		}
		if !want.MatchString(out) {
			t.Fatalf("lambda model %s: output does not match %s", strings.Join(args, " "), want)
		}
	}

	small := []string{"--events", "100000", "--entities", "1000"}
	mustRun(regexp.MustCompile(`(?s)holdout +\d+ +\d+ +0\.\d+ +0\.\d+ +0\.\d+.*int8 \(weight-only\): .*registered demo@1\nactivated demo@1`),
		append([]string{"train", "--activate"}, small...)...)
	mustRun(regexp.MustCompile(`registered demo@2\nactivate it with`), append([]string{"train", "--kind", "lr"}, small...)...)
	mustRun(regexp.MustCompile(`(?m)^demo +1 +active +15 +\d+ B [0-9a-f]{12} +\d+ B [0-9a-f]{12} .*\n^demo +2 +registered `), "list")
	mustRun(regexp.MustCompile(`activated demo@2`), "activate", "--name", "demo", "--version", "2")
	mustRun(regexp.MustCompile(`rolled back demo to version 1`), "rollback", "--name", "demo")
	if _, err := run("rollback", "--name", "demo"); !errors.Is(err, registry.ErrNoPrevious) {
		t.Errorf("second rollback: %v, want ErrNoPrevious", err)
	}

	lr := onnxmodel.LogisticRegression{W: make([]float32, features.DefaultSpec().Len()), B: -1}
	lr.W[0] = 0.01
	m, err := lr.Model()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "lr.onnx")
	if err := os.WriteFile(file, m.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run("import", file, "--name", "imported", "--features", "a,b,c"); !errors.Is(err, registry.ErrFeatureMismatch) {
		t.Errorf("import with 3 features for width 15: %v, want ErrFeatureMismatch", err)
	}
	mustRun(regexp.MustCompile(`registered imported@1 from .*lr\.onnx \(\d+ bytes, 15 features\)`),
		"import", file, "--name", "imported", "--features-from-spec")
	mustRun(regexp.MustCompile(`(?s)int8 \(dynamic\): fp32 .* over \d+ rows\nadded the int8 file to imported@1`),
		"quantize", "--name", "imported", "--version", "1", "--mode", "dynamic", "--sample-events", "50000")
	if _, err := run("quantize", "--name", "imported", "--version", "1"); !errors.Is(err, registry.ErrExists) {
		t.Errorf("quantize again: %v, want ErrExists", err)
	}
	mustRun(regexp.MustCompile(`(?m)^imported +1 +registered +15 +\d+ B [0-9a-f]{12} +\d+ B [0-9a-f]{12} `), "list", "--name", "imported")

	holder := inference.NewHolder(nil)
	defer holder.Close()
	if _, err := registry.NewWatcher(registry.New(pool, nil), "demo", holder, registry.WatcherOptions{Variant: registry.INT8}).Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	scores, err := holder.ScoreFlat(t.Context(), make([]float32, 2*15), 15)
	if err != nil || len(scores) != 2 {
		t.Fatalf("score with demo@1: %v, %v", scores, err)
	}
}

func TestParseHidden(t *testing.T) {
	for in, want := range map[string]string{"small": "[64]", "large": "[256 128]", "32": "[32]", "256, 128,8": "[256 128 8]"} {
		if got, err := parseHidden(in); err != nil || fmt.Sprint(got) != want {
			t.Errorf("parseHidden(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "huge", "64,0", "-1", "64,,8"} {
		if got, err := parseHidden(in); err == nil {
			t.Errorf("parseHidden(%q) = %v, want an error", in, got)
		}
	}
}
