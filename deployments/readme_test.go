package deployments

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The README's "Run on a cluster" section names every compose service and every
// Kubernetes workload, and the files it links exist.
func TestREADMEClusterSection(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Run on a cluster\n")
	if !ok {
		t.Fatal(`README.md has no "## Run on a cluster" section`)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	for name := range loadCompose(t).Services {
		if !strings.Contains(section, "| `"+name+"` |") {
			t.Errorf("README, Run on a cluster: compose service %s is not in the services table", name)
		}
	}
	for _, w := range loadCluster(t).workloads() {
		kind, name, _ := strings.Cut(w.name, "/")
		if !strings.Contains(section, kind+" `"+name+"`") {
			t.Errorf("README, Run on a cluster: %s is not in the objects table", w.name)
		}
	}
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)\)`).FindAllStringSubmatch(section, -1) {
		if _, err := os.Stat(filepath.Join("..", m[1])); err != nil {
			t.Errorf("README, Run on a cluster: link %s: %v", m[1], err)
		}
	}
}
