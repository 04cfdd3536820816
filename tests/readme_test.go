package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lambda-platform/lambda/inference/onnxmodel"
	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/inference/quantize"
	"github.com/lambda-platform/lambda/inference/registry"
	"github.com/lambda-platform/lambda/internal/features"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// readmes are the usage sections whose curl examples TestREADMEExamples runs: a file and
// the heading of its section ("" for every section of the file).
var readmes = []struct{ file, section string }{
	{"../README.md", "## Using it"},
	{"../servinglayer/README.md", ""},
}

// TestREADMEExamples runs every curl example of the READMEs' usage sections, in order,
// with the real curl against `lambda up` with demo data: API and ADMIN are set in curl's
// environment as the READMEs define them, placeholders (<sha256>) are filled in, and the
// files the examples send (model.onnx, model.int8.onnx, events.json) are in its working
// directory. An example fails the test when curl fails or the answer is 4xx or 5xx.
func TestREADMEExamples(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl: %v (the README examples are curl commands)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	pool, env, token := freshPlatform(t)
	env = append(env, "LAMBDA_CORS_ORIGINS=https://edge.example")
	run(t, ctx, env, "migrate")

	// The demo model, active before `up` (which then trains none), and the files the
	// upload example sends: another model of the same features.
	names := features.DefaultSpec().FeatureNames()
	dir := t.TempDir()
	models := registry.New(pool, nil)
	for i, file := range []string{"", "model.onnx"} {
		lr := onnxmodel.LogisticRegression{W: make([]float32, len(names)), B: float32(i)}
		for j := range lr.W {
			lr.W[j] = float32((j+i)%5-2) / 10
		}
		fp32 := ortenv.ONNX(t, lr)
		int8, err := quantize.Quantize(fp32, quantize.WeightOnly)
		if err != nil {
			t.Fatal(err)
		}
		if file == "" {
			v, err := models.Register(ctx, "demo", names, registry.File{Variant: registry.FP32, ONNX: fp32}, registry.File{Variant: registry.INT8, ONNX: int8})
			if err == nil {
				err = models.Activate(ctx, "demo", v.Version)
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		writeFile(t, filepath.Join(dir, "model.onnx"), fp32)
		writeFile(t, filepath.Join(dir, "model.int8.onnx"), int8)
	}
	writeFile(t, filepath.Join(dir, "events.json"), []byte(`[{"event_id":"r-1","entity_id":"user-000123","type":"click","ts":"2026-01-02T15:04:05Z"},`+
		`{"event_id":"r-2","entity_id":"user-000456","type":"view","ts":"2026-01-02T15:04:06Z"}]`))
	int8File, err := models.Version(ctx, "demo", 1)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := int8File.Artifact(registry.INT8)

	up := start(t, env, "up", "--demo-events", "5000", "--demo-entities", "1000")
	api := up.waitLine(t, "api", time.Minute)
	// The entities the examples ask for have events whatever the random demo stream held.
	var events []string
	readmeEntities := []string{"user-000001", "user-000002", "user-000123", "user-000456"}
	for i, id := range readmeEntities {
		events = append(events, `{"event_id":"readme-`+strconv.Itoa(i)+`","entity_id":"`+id+`","type":"click","ts":"`+time.Now().UTC().Format(time.RFC3339)+`"}`)
	}
	if code, _, body := call(t, http.MethodPost, api+"/v1/events", "", nil, []byte("["+strings.Join(events, ",")+"]")); code != http.StatusAccepted {
		t.Fatalf("POST /v1/events: %d %s", code, body)
	}
	paths := []string{"/v1/batch/runs/1", "/readyz"}
	for _, id := range readmeEntities {
		paths = append(paths, "/v1/entities/"+id+"/prediction")
	}
	for _, path := range paths {
		testenv.WaitFor(t, 2*time.Minute, "GET "+path+" = 200", func() bool { code, _ := get(t, api+path); return code == http.StatusOK })
	}

	placeholders := strings.NewReplacer("<sha256>", a.SHA256)
	examples := 0
	for _, readme := range readmes {
		for _, cmd := range curlExamples(t, readme.file, readme.section) {
			examples++
			line := placeholders.Replace(cmd)
			c := exec.CommandContext(ctx, "sh", "-c", line+` -sS -w '\n%{http_code}'`)
			c.Dir = dir
			c.Env = append(os.Environ(), "API="+api, "ADMIN=Authorization: Bearer "+token, "PATH="+filepath.Dir(curl)+":"+os.Getenv("PATH"))
			out, err := c.CombinedOutput()
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			status, _ := strconv.Atoi(lines[len(lines)-1])
			if err != nil || status == 0 || status >= 400 {
				t.Errorf("%s: %s\nstatus %d, %v:\n%s", readme.file, cmd, status, err, out)
			}
		}
	}
	if examples < 20 {
		t.Errorf("%d curl examples found in the READMEs; the extraction lost some", examples)
	}
	// What the examples changed: the upload made version 2, activated it, and rolled back.
	var m struct {
		ActiveVersion int64 `json:"active_version"`
		Versions      []any `json:"versions"`
	}
	if code, body := get(t, api+"/v1/models/demo"); code != 200 || json.Unmarshal([]byte(body), &m) != nil || len(m.Versions) != 2 || m.ActiveVersion != 1 {
		t.Errorf("after the examples, the demo model: %d %s", code, body)
	}
}

// curlExamples returns the curl commands of the ```sh blocks of a markdown file's section
// (every section when section is ""): continuation lines and quoted bodies over several
// lines joined, comments dropped.
func curlExamples(t *testing.T, file, section string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		cmds              []string
		inSection, inCode bool
		cmd               string
	)
	inSection = section == ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case section != "" && strings.HasPrefix(line, "## "):
			inSection = line == section
		case strings.HasPrefix(line, "```"):
			inCode = !inCode && strings.TrimPrefix(line, "```") == "sh"
		case inSection && inCode:
			line = trailingComment.ReplaceAllString(line, "")
			if cmd != "" {
				cmd += " " + strings.TrimSpace(line)
			} else if strings.HasPrefix(strings.TrimSpace(line), "curl ") {
				cmd = strings.TrimSpace(line)
			}
			if cmd != "" && strings.HasSuffix(cmd, `\`) {
				cmd = strings.TrimSuffix(cmd, `\`)
				continue
			}
			if strings.Count(cmd, "'")%2 == 1 { // a quoted body goes on
				continue
			}
			if cmd != "" {
				cmds = append(cmds, cmd)
				cmd = ""
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cmds
}

// trailingComment is a shell comment after a command (a # after spaces, outside JSON).
var trailingComment = regexp.MustCompile(`\s+#\s.*$`)

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
