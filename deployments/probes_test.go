package deployments

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/lambda-platform/lambda/inference/ortenv"
	"github.com/lambda-platform/lambda/internal/store"
	"github.com/lambda-platform/lambda/internal/testenv"
)

// probe is an HTTP GET that a probe, a healthcheck or a scrape makes of a process.
type probe struct {
	port      int
	path      string
	source    string
	readiness bool // 503 is an answer too: not ready yet
}

var loopbackRE = regexp.MustCompile(`http://127\.0\.0\.1:(\d+)(/[^\s"',\]]*)`)

// loopbackURL finds http://127.0.0.1:PORT/PATH in s.
func loopbackURL(s string) (probe, bool) {
	m := loopbackRE.FindStringSubmatch(s)
	if m == nil {
		return probe{}, false
	}
	port, _ := strconv.Atoi(m[1])
	return probe{port: port, path: m[2]}, true
}

// podProbes are the GETs Kubernetes and Prometheus make of a pod, by container port.
func podProbes(spec *corev1.PodSpec, annotations map[string]string, name string) []probe {
	var out []probe
	for _, c := range spec.Containers {
		for kind, pr := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if pr != nil && pr.HTTPGet != nil {
				out = append(out, probe{port: int(containerPort(spec, pr.HTTPGet.Port)), path: pr.HTTPGet.Path,
					source: fmt.Sprintf("%s %s probe", name, kind), readiness: kind == "readiness"})
			}
		}
	}
	if annotations["prometheus.io/scrape"] == "true" {
		port, _ := strconv.Atoi(annotations["prometheus.io/port"])
		out = append(out, probe{port: int(containerPort(spec, intstr.FromInt(port))), path: annotations["prometheus.io/path"],
			source: name + " prometheus.io scrape"})
	}
	return out
}

// Every probe of the manifests, the Dockerfile's HEALTHCHECK, compose's healthchecks and
// the scrape annotations get a path the real process serves: the Job runs and each
// Deployment's command starts with the manifests' settings, on loopback ports of its
// own, against the real PostgreSQL and ClickHouse and an embedded Kafka broker.
func TestProbesHitServedPaths(t *testing.T) {
	c := loadCluster(t)
	lib, err := ortenv.Library()
	if err != nil {
		t.Fatalf("ONNX Runtime: %v", err)
	}
	_, pgURL := testenv.EmptyPostgres(t)
	_, chDB := testenv.EmptyClickHouse(t)
	servers := []string{
		"LAMBDA_KAFKA_BROKERS=" + strings.Join(testenv.Kafka(t), ","),
		"LAMBDA_POSTGRES_URL=" + pgURL,
		"LAMBDA_CLICKHOUSE_ADDR=" + cmp.Or(os.Getenv(store.EnvClickHouseAddr), store.DefaultClickHouseAddr),
		"LAMBDA_CLICKHOUSE_DATABASE=" + chDB,
		"LAMBDA_CLICKHOUSE_USER=default",
		"LAMBDA_CLICKHOUSE_PASSWORD=",
		"LAMBDA_ORT_LIB=" + lib,
		"LAMBDA_LOG_FORMAT=text",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	for _, w := range c.workloads() {
		if !strings.HasPrefix(w.name, "Job/") {
			continue
		}
		// A suspended Job runs when an operator unsuspends it: lambda-batch-sharded is a
		// sharded batch run, which needs a model and archived events (tests/shards_test.go
		// runs its workers); its variables are checked against -h like every container's.
		if j := c.jobs[strings.TrimPrefix(w.name, "Job/")]; j.Spec.Suspend != nil && *j.Spec.Suspend {
			continue
		}
		for _, ctr := range w.pod.Spec.Containers {
			cmd := exec.CommandContext(ctx, lambdaBin, ctr.Args...)
			cmd.Env, _ = podEnv(t, c, ctr, servers)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: lambda %s: %v\n%s", w.name, strings.Join(ctr.Args, " "), err, out)
			}
		}
	}

	// Each Deployment's processes, and which loopback port stands for each container port.
	addrOf := map[int]string{}
	exitedOf := map[int]<-chan struct{}{}
	probes := map[int][]probe{}
	for _, w := range c.workloads() {
		if !strings.HasPrefix(w.name, "Deployment/") {
			continue
		}
		for _, ctr := range w.pod.Spec.Containers {
			env, ports := podEnv(t, c, ctr, servers)
			exited := startProcess(t, w.name, ctr.Args, env)
			for port, addr := range ports {
				if _, dup := addrOf[port]; dup {
					t.Fatalf("container port %d is declared by two Deployments: the image's port defaults could not tell them apart", port)
				}
				addrOf[port], exitedOf[port] = addr, exited
			}
		}
		for _, p := range podProbes(&w.pod.Spec, w.pod.Annotations, w.name) {
			probes[p.port] = append(probes[p.port], p)
		}
	}
	others := append(composeHealthchecks(t), dockerHealthcheck(t))
	for _, p := range others {
		probes[p.port] = append(probes[p.port], p)
	}

	var wg sync.WaitGroup
	for port, ps := range probes {
		addr, ok := addrOf[port]
		if !ok {
			for _, p := range ps {
				t.Errorf("%s: port %d is no container port of the manifests' Deployments", p.source, port)
			}
			continue
		}
		for _, p := range ps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				checkServed(ctx, t, addr, exitedOf[port], p)
			}()
		}
	}
	wg.Wait()
}

// podEnv is the environment of a container run here: the manifests' settings, with the
// test's servers in place of the cluster's and each listen address (0.0.0.0:PORT) on a
// free loopback port; ports maps each such container port to its loopback address.
func podEnv(t *testing.T, c *cluster, ctr corev1.Container, servers []string) (env []string, ports map[int]string) {
	t.Helper()
	env = os.Environ()
	for _, from := range ctr.EnvFrom {
		if from.ConfigMapRef == nil {
			continue
		}
		if cm, ok := c.configMaps[from.ConfigMapRef.Name]; ok {
			for _, k := range sortedKeys(cm.Data) {
				env = append(env, k+"="+cm.Data[k])
			}
		}
	}
	ports = map[int]string{}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil {
			continue // a Secret's: servers has the test's value
		}
		if m := listenAddr.FindStringSubmatch(e.Value); m != nil {
			port, _ := strconv.Atoi(m[1])
			ports[port] = freeAddr(t)
			env = append(env, e.Name+"="+ports[port])
			continue
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return append(env, servers...), ports // later entries win
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs lambda args until the test ends; its output is logged if the test
// fails. The channel is closed when the process exits.
func startProcess(t *testing.T, name string, args, env []string) <-chan struct{} {
	t.Helper()
	var out lockedBuffer
	cmd := exec.Command(lambdaBin, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: start lambda %s: %v", name, strings.Join(args, " "), err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s: lambda %s output:\n%s", name, strings.Join(args, " "), out.String())
		}
	})
	return done
}

// checkServed waits until the process on addr answers p's GET and checks the status:
// 200, or for a readiness probe 200 or 503 (served, not ready yet). A 404 or 405 says
// the path is not one the process serves.
func checkServed(ctx context.Context, t *testing.T, addr string, exited <-chan struct{}, p probe) {
	url := "http://" + addr + p.path
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || (p.readiness && resp.StatusCode == http.StatusServiceUnavailable) {
				return
			}
			t.Errorf("%s: GET %s (container port %d) answered %s", p.source, p.path, p.port, resp.Status)
			return
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s: GET %s (container port %d): no answer: %v", p.source, p.path, p.port, err)
			return
		case <-exited:
			t.Errorf("%s: GET %s (container port %d): the process exited", p.source, p.path, p.port)
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}
