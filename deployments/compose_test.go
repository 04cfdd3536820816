package deployments

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const composeFile = "compose.yaml"

// composeEnv is what `docker-compose config` needs set: the variables compose.yaml
// requires (${VAR:?...}).
var composeEnv = []string{"LAMBDA_ADMIN_TOKEN=compose-test-token"}

// composed is the part of `docker-compose config`'s resolved file these tests read.
type composed struct {
	Services map[string]struct {
		Build *struct {
			Context    string `json:"context"`
			Dockerfile string `json:"dockerfile"`
		} `json:"build"`
		Entrypoint  []string                 `json:"entrypoint"`
		Command     []string                 `json:"command"`
		Environment map[string]any           `json:"environment"`
		Volumes     []string                 `json:"volumes"`
		Healthcheck *struct{ Test []string } `json:"healthcheck"`
	} `json:"services"`
}

// dockerCompose runs docker-compose on compose.yaml; missing, the test fails: make
// services-up (scripts/services.sh up) installs it.
func dockerCompose(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatalf("docker-compose is not installed: scripts/services.sh up (make services-up) installs it: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"-f", composeFile}, args...)...)
	cmd.Env = append(os.Environ(), composeEnv...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("docker-compose %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

func loadCompose(t *testing.T) composed {
	t.Helper()
	var c composed
	if err := yaml.Unmarshal(dockerCompose(t, "config"), &c); err != nil {
		t.Fatalf("docker-compose config: %v", err)
	}
	return c
}

func TestComposeConfigIsValid(t *testing.T) {
	dockerCompose(t, "config", "-q")
}

// lambdaInScript matches each `lambda <command>` a shell entrypoint runs.
var lambdaInScript = regexp.MustCompile(`\blambda((?:\s+[a-z][a-z-]*)+)`)

// lambdaCommands returns what the lambda services run, by service: the services built
// from the repo's Dockerfile, whose entrypoint is lambda or a shell running lambda.
func lambdaCommands(t *testing.T, c composed) map[string][][]string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmds := map[string][][]string{}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.Build == nil {
			continue
		}
		if s.Build.Context != root || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("service %s builds %s in %s; want the repo's Dockerfile in %s", name, s.Build.Dockerfile, s.Build.Context, root)
		}
		switch strings.Join(s.Entrypoint, " ") {
		case "": // the image's: lambda
			cmds[name] = [][]string{s.Command}
		case "/bin/sh -c":
			for _, m := range lambdaInScript.FindAllStringSubmatch(strings.Join(s.Command, " "), -1) {
				cmds[name] = append(cmds[name], strings.Fields(m[1]))
			}
		default:
			t.Errorf("service %s: entrypoint %q; want the image's (lambda) or /bin/sh -c", name, s.Entrypoint)
		}
		if len(cmds[name]) == 0 {
			t.Errorf("service %s runs no lambda command", name)
		}
	}
	return cmds
}

// Every file or folder compose.yaml bind-mounts exists in the repo (Prometheus' and
// Grafana's configuration included), every lambda service runs a command of the binary
// and every variable it sets is one its command reads.
func TestComposeReferences(t *testing.T) {
	c := loadCompose(t)
	for _, name := range sortedKeys(c.Services) {
		for _, v := range c.Services[name].Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !filepath.IsAbs(src) {
				continue // a named volume
			}
			if _, err := os.Stat(src); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", name, src, err)
			}
		}
	}
	cmds := lambdaCommands(t, c)
	if len(cmds) == 0 {
		t.Fatal("compose.yaml runs no service built from the repo's Dockerfile")
	}
	for _, name := range sortedKeys(cmds) {
		for v := range c.Services[name].Environment {
			checkEnvRead(t, map[string][]string{v: {"service " + name}}, map[string][][]string{"service " + name: cmds[name]})
		}
	}
}

// composeHealthchecks are the URLs the lambda services' healthchecks get.
func composeHealthchecks(t *testing.T) []probe {
	t.Helper()
	c := loadCompose(t)
	var out []probe
	for name := range lambdaCommands(t, c) {
		hc := c.Services[name].Healthcheck
		if hc == nil || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
			continue
		}
		p, ok := loopbackURL(strings.Join(hc.Test, " "))
		if !ok {
			t.Errorf("service %s: healthcheck %q gets no http://127.0.0.1:PORT/PATH", name, hc.Test)
			continue
		}
		p.source = fmt.Sprintf("compose service %s healthcheck", name)
		out = append(out, p)
	}
	return out
}
