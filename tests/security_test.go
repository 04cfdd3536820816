package tests

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSecretsNeverLogged runs `lambda up` and a `lambda edge` node mirroring it at
// debug level, with distinctive tokens and a PostgreSQL URL with a password, drives
// requests with the right tokens, wrong ones and none (401s), and checks that no
// output of any process — logs, config lines, errors, a failed connection — holds a
// secret: each is logged masked, as ***.
func TestSecretsNeverLogged(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	_, env, admin := freshPlatform(t)
	secrets := map[string]string{
		"admin token":         admin,
		"read token":          "read-" + randomToken(t),
		"edge read token":     "edge-" + randomToken(t),
		"PostgreSQL password": "pw-" + randomToken(t),
		"wrong token":         "wrong-" + randomToken(t), // a client's mistake is not logged either
	}
	for i, kv := range env {
		if url, ok := strings.CutPrefix(kv, "LAMBDA_POSTGRES_URL="); ok { // trust auth ignores the password
			env[i] = "LAMBDA_POSTGRES_URL=" + strings.Replace(url, "://postgres@", "://postgres:"+secrets["PostgreSQL password"]+"@", 1)
		}
	}
	env = append(env, "LAMBDA_LOG_LEVEL=debug", "LAMBDA_MODEL=guarded")
	outputs := []string{run(t, ctx, env, "migrate")}
	outputs = append(outputs, run(t, ctx, env, "model", "train", "--name", "guarded", "--kind", "lr", "--events", "20000", "--activate"))

	upAddr := freeAddr(t)
	up := start(t, append(slices.Clip(env), "LAMBDA_HTTP_ADDR="+upAddr, "LAMBDA_READ_TOKEN="+secrets["read token"]), "up")
	api := "http://" + upAddr
	waitReady(t, api, time.Minute)
	edgeAddr := freeAddr(t)
	node := start(t, append(slices.Clip(env), "LAMBDA_HTTP_ADDR="+edgeAddr, "LAMBDA_DATA_DIR="+t.TempDir(),
		"LAMBDA_EDGE_UPSTREAM="+api, "LAMBDA_EDGE_UPSTREAM_TOKEN="+secrets["read token"], "LAMBDA_READ_TOKEN="+secrets["edge read token"]), "edge")
	edge := "http://" + edgeAddr
	waitReady(t, edge, 30*time.Second)

	for _, c := range []struct {
		method, url, token string
		want               int
	}{
		{http.MethodGet, api + "/v1/models", "", http.StatusUnauthorized},
		{http.MethodGet, api + "/v1/models", secrets["wrong token"], http.StatusUnauthorized},
		{http.MethodGet, api + "/v1/models", secrets["read token"], http.StatusOK},
		{http.MethodGet, api + "/v1/models/guarded", admin, http.StatusOK},
		{http.MethodPost, api + "/v1/models/guarded/rollback", secrets["read token"], http.StatusUnauthorized},
		{http.MethodPost, api + "/v1/models/guarded/rollback", secrets["wrong token"], http.StatusUnauthorized},
		{http.MethodPost, api + "/v1/models/guarded/rollback", admin, http.StatusConflict},
		{http.MethodGet, api + "/v1/entities/e1/prediction", secrets["read token"], http.StatusNotFound},
		{http.MethodGet, api + "/v2/models/guarded", secrets["read token"], http.StatusOK},
		{http.MethodGet, edge + "/v2/models/guarded", "", http.StatusUnauthorized},
		{http.MethodGet, edge + "/v2/models/guarded", secrets["wrong token"], http.StatusUnauthorized},
		{http.MethodGet, edge + "/v2/models/guarded", secrets["edge read token"], http.StatusOK},
	} {
		auth := ""
		if c.token != "" {
			auth = "Bearer " + c.token
		}
		if code, _, body := call(t, c.method, c.url, auth, nil, nil); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.url, code, body, c.want)
		}
	}
	node.stop(t, 20*time.Second)
	up.stop(t, 20*time.Second)
	outputs = append(outputs, up.output(), node.output())

	// A PostgreSQL that cannot be reached, a password in the query, a URL that does not
	// parse: the config line and the error name the server, never the password.
	pw := secrets["PostgreSQL password"]
	for _, url := range []string{
		"postgres://postgres:" + pw + "@127.0.0.1:1/nowhere?connect_timeout=2",
		"postgres://postgres@127.0.0.1:1/nowhere?connect_timeout=2&password=" + pw,
		"postgres://postgres:" + pw + "%zz@127.0.0.1:1/nowhere",
	} {
		cmd := exec.CommandContext(ctx, lambdaBin, "migrate", "--status", "--postgres-url", url)
		cmd.Env = os.Environ()
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("migrate against an unreachable PostgreSQL succeeded:\n%s", out)
		}
		outputs = append(outputs, string(out))
	}

	all := strings.Join(outputs, "\n")
	for what, secret := range secrets {
		if strings.Contains(all, secret) {
			t.Errorf("the %s is in the output:\n%s", what, lineWith(all, secret))
		}
	}
	for _, masked := range []string{"admin_token=***", "read_token=***", "upstream_token=***", ":***@127.0.0.1"} {
		if !strings.Contains(all, masked) {
			t.Errorf("no %q in the output: the config is not logged as this test expects", masked)
		}
	}
	if !strings.Contains(all, "status=401") {
		t.Error("the request log has no 401: the test did not log at debug level")
	}
}

// lineWith returns the first line of s that holds sub.
func lineWith(s, sub string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, sub) {
			return line
		}
	}
	return ""
}
