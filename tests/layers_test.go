package tests

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// module is this repository's module path.
const module = "github.com/lambda-platform/lambda/"

// mayImport lists, for each top-level folder, the folders of this module whose
// packages its packages (test files included) may import besides its own. The three
// layers are peers that meet only through internal/ and inference; internal/ and
// inference are shared by the layers and import none of them. cmd wires everything,
// tests exercise everything; deployments' tests run the binary against the test servers.
var mayImport = map[string][]string{
	"batchlayer":   {"internal", "inference"},
	"speedlayer":   {"internal", "inference"},
	"servinglayer": {"internal", "inference"},
	"inference":    {"internal"},
	"internal":     {"inference", "migrations"},
	"migrations":   {"internal"},
	"cmd":          {"batchlayer", "speedlayer", "servinglayer", "inference", "internal", "migrations"},
	"tests":        {"batchlayer", "speedlayer", "servinglayer", "inference", "internal", "migrations", "cmd"},
	"deployments":  {"internal", "inference"},
}

// TestImportDirections fails when a package imports across the directions allowed
// above, for example a layer importing another layer.
func TestImportDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-f",
		"{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var imports [][2]string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		for _, imp := range fields[1:] {
			imports = append(imports, [2]string{fields[0], imp})
		}
	}
	if len(imports) < 100 {
		t.Fatalf("go list found %d imports; is the module path %q?", len(imports), module)
	}
	for _, v := range violations(imports) {
		t.Error(v)
	}
}

// TestImportRuleCatches: the rule reports a layer importing another layer, and internal
// or inference importing a layer, from test files too.
func TestImportRuleCatches(t *testing.T) {
	got := violations([][2]string{
		{module + "speedlayer", module + "batchlayer/view"},
		{module + "servinglayer/predict_test", module + "speedlayer/speedview"},
		{module + "internal/views", module + "servinglayer/predict"},
		{module + "inference/registry", module + "batchlayer/batchrun"},
		{module + "speedlayer", module + "internal/runs"},
		{module + "cmd/lambda", module + "servinglayer"},
		{module + "servinglayer", "github.com/labstack/echo/v4"},
	})
	if len(got) != 4 {
		t.Errorf("got %d violations, want the first 4:\n%s", len(got), strings.Join(got, "\n"))
	}
}

// violations describes each import that mayImport does not allow.
func violations(imports [][2]string) []string {
	var out []string
	for _, imp := range imports {
		from, to := folder(imp[0]), folder(imp[1])
		if to == "" || to == from {
			continue
		}
		allowed, known := mayImport[from]
		if !known {
			out = append(out, "top-level folder "+from+" is not in the import rule ("+imp[0]+")")
			continue
		}
		if !slices.Contains(allowed, to) {
			out = append(out, imp[0]+" imports "+imp[1]+": "+from+" may import only "+strings.Join(allowed, ", "))
		}
	}
	return out
}

// folder is the top-level folder of a package of this module, "" for other modules.
func folder(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, module)
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(strings.TrimSuffix(rest, "_test"), "/")
	return top
}
