package deployments

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// dockerfile is the repo's Dockerfile, instruction by instruction, continuation lines
// joined and comments dropped.
func dockerfile(t *testing.T) [][2]string {
	t.Helper()
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var (
		out  [][2]string
		line strings.Builder
	)
	for _, l := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(l)
		if line.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, `\`); ok {
			line.WriteString(cont + " ")
			continue
		}
		line.WriteString(trimmed)
		instr, args, _ := strings.Cut(line.String(), " ")
		out = append(out, [2]string{strings.ToUpper(instr), strings.TrimSpace(args)})
		line.Reset()
	}
	return out
}

// finalStage maps each instruction of the Dockerfile's last stage to its arguments.
func finalStage(t *testing.T) map[string][]string {
	t.Helper()
	stage := map[string][]string{}
	for _, in := range dockerfile(t) {
		if in[0] == "FROM" {
			stage = map[string][]string{}
		}
		stage[in[0]] = append(stage[in[0]], in[1])
	}
	return stage
}

// shellAssign finds NAME=value in a shell script.
func shellAssign(t *testing.T, script, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no %s= in scripts/services.sh", name)
	}
	return m[1]
}

// dockerArg is the default of ARG name in the Dockerfile.
func dockerArg(t *testing.T, name string) string {
	t.Helper()
	for _, in := range dockerfile(t) {
		if v, ok := strings.CutPrefix(in[1], name+"="); ok && in[0] == "ARG" {
			return v
		}
	}
	t.Fatalf("Dockerfile: no ARG %s=...", name)
	return ""
}

// The image fetches the ONNX Runtime library and onnxruntime-web's files that
// scripts/services.sh fetches: one version and one checksum each, kept in two files and
// compared here.
func TestDockerfileONNXRuntimeIsServicesOne(t *testing.T) {
	raw, err := os.ReadFile("../scripts/services.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := string(raw)
	for _, pin := range []struct{ arg, shell string }{
		{"ORT_VERSION", "ort_version"}, {"ORT_SHA256", "ort_sha256"},
		{"ORT_WEB_VERSION", "ort_web_version"}, {"ORT_WEB_SHA256", "ort_web_sha256"},
	} {
		if got, want := dockerArg(t, pin.arg), shellAssign(t, script, pin.shell); got != want {
			t.Errorf("Dockerfile %s %s; scripts/services.sh %s %s", pin.arg, got, pin.shell, want)
		}
	}
	for _, sum := range []string{"ORT_SHA256", "ORT_WEB_SHA256"} {
		var checked bool
		for _, in := range dockerfile(t) {
			checked = checked || (in[0] == "RUN" && strings.Contains(in[1], `echo "${`+sum+`}`) && strings.Contains(in[1], "sha256sum -c"))
		}
		if !checked {
			t.Errorf("Dockerfile: no RUN checks a download with sha256sum -c against %s", sum)
		}
	}
}

func TestDockerfileRuntimeStage(t *testing.T) {
	stage := finalStage(t)
	if uid := dockerfileUID(t); uid == 0 {
		t.Error("Dockerfile: the final USER is root")
	}
	if !strings.Contains(strings.Join(stage["RUN"], " "), "--uid "+strings.SplitN(stage["USER"][0], ":", 2)[0]+" ") {
		t.Errorf("Dockerfile: USER %s is not a user the final stage creates (useradd --uid)", stage["USER"][0])
	}
	env := strings.Join(stage["ENV"], " ")
	lib := regexp.MustCompile(`LAMBDA_ORT_LIB=(\S+)`).FindStringSubmatch(env)
	if lib == nil {
		t.Fatal("Dockerfile: the final stage sets no LAMBDA_ORT_LIB")
	}
	if !strings.Contains(strings.Join(stage["COPY"], " "), " "+lib[1]) {
		t.Errorf("Dockerfile: LAMBDA_ORT_LIB=%s, but no COPY puts the library there", lib[1])
	}
	web := regexp.MustCompile(`LAMBDA_ORT_WEB_DIR=(\S+)`).FindStringSubmatch(env)
	if web == nil || !strings.Contains(strings.Join(stage["COPY"], " "), " "+web[1]) {
		t.Errorf("Dockerfile: the final stage must set LAMBDA_ORT_WEB_DIR and COPY onnxruntime-web's files there (env %q)", env)
	}
	if hc := stage["HEALTHCHECK"]; len(hc) != 1 || !strings.Contains(hc[0], "/healthz") {
		t.Errorf("Dockerfile: want one HEALTHCHECK on /healthz in the final stage, have %q", hc)
	}
	if ep := stage["ENTRYPOINT"]; len(ep) != 1 || ep[0] != `["lambda"]` {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want [\"lambda\"] (compose and the manifests give the subcommand)", ep)
	}
}

// dockerHealthcheck is the port and path of the Dockerfile's HEALTHCHECK URL.
func dockerHealthcheck(t *testing.T) probe {
	t.Helper()
	hc := finalStage(t)["HEALTHCHECK"]
	if len(hc) != 1 {
		t.Fatalf("Dockerfile: want one HEALTHCHECK, have %q", hc)
	}
	p, ok := loopbackURL(hc[0])
	if !ok {
		t.Fatalf("Dockerfile: HEALTHCHECK %q gets no http://127.0.0.1:PORT/PATH", hc[0])
	}
	p.source = "Dockerfile HEALTHCHECK"
	return p
}

// The listen addresses the image sets are the ones the manifests give the same
// variables: compose relies on the image's, and TestProbesHitServedPaths checks the
// manifests' ports.
func TestDockerfileListenAddrsAreTheManifests(t *testing.T) {
	image := map[string]string{}
	for _, env := range finalStage(t)["ENV"] {
		for _, kv := range strings.Fields(env) {
			if k, v, ok := strings.Cut(kv, "="); ok && listenAddr.MatchString(v) {
				image[k] = v
			}
		}
	}
	if len(image) == 0 {
		t.Fatal("Dockerfile: the final stage sets no listen address (LAMBDA_*=0.0.0.0:PORT)")
	}
	manifests := map[string]string{}
	for _, w := range loadCluster(t).workloads() {
		for _, ctr := range w.pod.Spec.Containers {
			for _, e := range ctr.Env {
				if listenAddr.MatchString(e.Value) {
					manifests[e.Name] = e.Value
				}
			}
		}
	}
	for k, v := range image {
		if m, ok := manifests[k]; !ok || m != v {
			t.Errorf("Dockerfile sets %s=%s; the manifests %q", k, v, m)
		}
	}
}
