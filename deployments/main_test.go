// Package deployments checks the files that run the platform outside a workstation —
// the Dockerfile, deployments/compose.yaml and the Kubernetes manifests in
// deployments/k8s — against the real binary: the commands they run exist, every
// LAMBDA_* variable they set is one that command reads, and every probe and
// healthcheck hits a path the running process serves.
package deployments

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lambda-platform/lambda/internal/testenv"
)

// lambdaBin is the binary under test, built once by TestMain.
var lambdaBin string

func TestMain(m *testing.M) { testenv.MainWithLambda(m, &lambdaBin) }

// command is the subcommand an argument list runs: the words before the first flag
// ("batch schedule" of `batch schedule --parallel 2`).
func command(args []string) []string {
	i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") })
	if i < 0 {
		return args
	}
	return args[:i]
}

var (
	envOfMu sync.Mutex
	envOf   = map[string]map[string]bool{}
	// envInUsage matches the variable `lambda <command> -h` names after each flag.
	envInUsage = regexp.MustCompile(`\[\$(LAMBDA_[A-Z0-9_]+)\]`)
)

// readEnv returns the LAMBDA_* variables the command of args reads, from its own
// `-h` output; the test fails if the binary has no such command.
func readEnv(t *testing.T, args []string) map[string]bool {
	t.Helper()
	cmd := command(args)
	if len(cmd) == 0 {
		t.Fatalf("no lambda command in %q", args)
	}
	key := strings.Join(cmd, " ")
	envOfMu.Lock()
	defer envOfMu.Unlock()
	if names, ok := envOf[key]; ok {
		return names
	}
	out, err := exec.Command(lambdaBin, append(slices.Clone(cmd), "-h")...).CombinedOutput()
	if err != nil {
		t.Fatalf("lambda %s -h: %v (is %q a command of the binary?)\n%s", key, err, key, out)
	}
	names := map[string]bool{}
	for _, m := range envInUsage.FindAllStringSubmatch(string(out), -1) {
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatalf("lambda %s -h names no LAMBDA_* variable; is %q a command of the binary?\n%s", key, key, out)
	}
	envOf[key] = names
	return names
}

// goRuntimeEnv are the Go runtime's variables a manifest may set.
var goRuntimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GOMAXPROCS": true}

// checkEnvRead fails for every variable in given that none of its readers reads:
// given maps a variable to where it is set, readers maps a place to the commands
// running there. The Go runtime's own variables are read by every command.
func checkEnvRead(t *testing.T, given map[string][]string, readers map[string][][]string) {
	t.Helper()
	for _, name := range sortedKeys(given) {
		if goRuntimeEnv[name] {
			continue // every lambda process reads it
		}
		if !strings.HasPrefix(name, "LAMBDA_") {
			t.Errorf("%s (set for %s) is not a LAMBDA_* variable of the platform", name, strings.Join(given[name], ", "))
			continue
		}
		read := false
		for _, place := range given[name] {
			for _, args := range readers[place] {
				read = read || readEnv(t, args)[name]
			}
		}
		if !read {
			t.Errorf("%s is set for %s, but no command run there reads it (lambda <command> -h lists what each reads)",
				name, strings.Join(given[name], ", "))
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
