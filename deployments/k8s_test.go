package deployments

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

const k8sDir = "k8s"

// kinds are the API types the manifests may hold, by apiVersion and kind.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                              func() any { return &corev1.Secret{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
}

// kustomization is the part of kustomize's Kustomization these manifests use; an
// unknown field fails the strict decode.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors"`
	} `json:"labels"`
	Resources []string    `json:"resources"`
	Images    []kustImage `json:"images"`
}

// kustImage sets the registry and tag of the containers whose image is Name.
type kustImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName"`
	NewTag  string `json:"newTag"`
}

// cluster is every object of deployments/k8s, decoded strictly into its k8s.io/api type.
type cluster struct {
	kust        kustomization
	namespaces  []*corev1.Namespace
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	services    []*corev1.Service
	deployments map[string]*appsv1.Deployment
	jobs        map[string]*batchv1.Job
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
}

// workload is a pod template and who owns it.
type workload struct {
	name string // "Deployment/lambda-api"
	pod  *corev1.PodTemplateSpec
}

// workloads are the pod templates of the Deployments, then the Jobs, by name.
func (c *cluster) workloads() []workload {
	var ws []workload
	for _, name := range sortedKeys(c.deployments) {
		ws = append(ws, workload{"Deployment/" + name, &c.deployments[name].Spec.Template})
	}
	for _, name := range sortedKeys(c.jobs) {
		ws = append(ws, workload{"Job/" + name, &c.jobs[name].Spec.Template})
	}
	return ws
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

func loadCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		deployments: map[string]*appsv1.Deployment{}, jobs: map[string]*batchv1.Job{}}
	raw, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(raw, &c.kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if c.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || c.kust.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", c.kust.APIVersion, c.kust.Kind)
	}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			onDisk = append(onDisk, filepath.Base(f))
		}
	}
	if listed := slices.Sorted(slices.Values(c.kust.Resources)); !slices.Equal(listed, onDisk) {
		t.Errorf("kustomization.yaml lists %v; the folder holds %v", listed, onDisk)
	}
	for _, file := range c.kust.Resources {
		raw, err := os.ReadFile(filepath.Join(k8sDir, file))
		if err != nil {
			t.Errorf("kustomization.yaml: %v", err)
			continue
		}
		for i, doc := range docSeparator.Split(string(raw), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			c.add(t, file+" document "+strconv.Itoa(i+1), []byte(doc))
		}
	}
	return c
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// add decodes one document strictly: unknown or duplicate fields fail.
func (c *cluster) add(t *testing.T, where string, doc []byte) {
	t.Helper()
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		t.Errorf("%s: %s %s is not a type this test knows (add it to kinds)", where, tm.APIVersion, tm.Kind)
		return
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		t.Errorf("%s (%s): %v", where, tm.Kind, err)
		return
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		c.namespaces = append(c.namespaces, o)
	case *corev1.ConfigMap:
		c.configMaps[o.Name] = o
	case *corev1.Secret:
		c.secrets[o.Name] = o
	case *corev1.Service:
		c.services = append(c.services, o)
	case *appsv1.Deployment:
		c.deployments[o.Name] = o
	case *batchv1.Job:
		c.jobs[o.Name] = o
	case *autoscalingv2.HorizontalPodAutoscaler:
		c.hpas = append(c.hpas, o)
	case *policyv1.PodDisruptionBudget:
		c.pdbs = append(c.pdbs, o)
	}
}

// selecting returns the workloads whose pods sel selects.
func (c *cluster) selecting(t *testing.T, sel *metav1.LabelSelector) []workload {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return nil
	}
	var out []workload
	for _, w := range c.workloads() {
		if !s.Empty() && s.Matches(labels.Set(w.pod.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// containerPort resolves a probe's or Service's port (a name or a number) to a port
// the pod's containers declare; 0 if none does.
func containerPort(pod *corev1.PodSpec, port intstr.IntOrString) int32 {
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func TestK8sManifestsDecodeStrictly(t *testing.T) {
	c := loadCluster(t)
	if len(c.deployments) == 0 || len(c.jobs) == 0 || len(c.configMaps) == 0 || len(c.secrets) == 0 {
		t.Fatalf("decoded %d Deployments, %d Jobs, %d ConfigMaps, %d Secrets: want each", len(c.deployments), len(c.jobs), len(c.configMaps), len(c.secrets))
	}
	if len(c.namespaces) != 1 || c.namespaces[0].Name != c.kust.Namespace {
		t.Errorf("the kustomization's namespace %q must be the one Namespace of the manifests", c.kust.Namespace)
	}
	for _, w := range c.workloads() {
		for _, ctr := range w.pod.Spec.Containers {
			if !slices.ContainsFunc(c.kust.Images, func(i kustImage) bool { return i.Name == ctr.Image }) {
				t.Errorf("%s container %s: image %q is not one the kustomization's images set", w.name, ctr.Name, ctr.Image)
			}
		}
	}
}

func TestK8sCrossReferences(t *testing.T) {
	c := loadCluster(t)
	uid := dockerfileUID(t)

	for _, name := range sortedKeys(c.deployments) {
		d := c.deployments[name]
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: selector %v does not select its own pod labels %v (%v)", name, d.Spec.Selector, d.Spec.Template.Labels, err)
		}
		if n := len(c.selecting(t, d.Spec.Selector)); n != 1 {
			t.Errorf("Deployment %s: its selector selects the pods of %d workloads; want its own only", name, n)
		}
	}

	for _, s := range c.services {
		ws := c.selecting(t, &metav1.LabelSelector{MatchLabels: s.Spec.Selector})
		if len(ws) != 1 {
			t.Errorf("Service %s: selector %v selects %d workloads; want 1", s.Name, s.Spec.Selector, len(ws))
			continue
		}
		for _, p := range s.Spec.Ports {
			if containerPort(&ws[0].pod.Spec, p.TargetPort) == 0 {
				t.Errorf("Service %s port %s: targetPort %s is no container port of %s", s.Name, p.Name, p.TargetPort.String(), ws[0].name)
			}
		}
	}

	for _, h := range c.hpas {
		ref := h.Spec.ScaleTargetRef
		d, ok := c.deployments[ref.Name]
		if ref.Kind != "Deployment" || ref.APIVersion != "apps/v1" || !ok {
			t.Errorf("HPA %s: target %s %s/%s is no Deployment of the manifests", h.Name, ref.APIVersion, ref.Kind, ref.Name)
			continue
		}
		for _, ctr := range d.Spec.Template.Spec.Containers {
			if _, ok := ctr.Resources.Requests[corev1.ResourceCPU]; !ok {
				t.Errorf("HPA %s scales on CPU utilization, but container %s of %s requests no CPU", h.Name, ctr.Name, ref.Name)
			}
		}
		for _, p := range c.pdbs {
			if ws := c.selecting(t, p.Spec.Selector); len(ws) == 1 && ws[0].name == "Deployment/"+ref.Name &&
				p.Spec.MinAvailable != nil && h.Spec.MinReplicas != nil && p.Spec.MinAvailable.IntValue() >= int(*h.Spec.MinReplicas) {
				t.Errorf("PDB %s: minAvailable %s ≥ the HPA's minReplicas %d would block every node drain", p.Name, p.Spec.MinAvailable.String(), *h.Spec.MinReplicas)
			}
		}
	}
	for _, p := range c.pdbs {
		if ws := c.selecting(t, p.Spec.Selector); len(ws) != 1 || !strings.HasPrefix(ws[0].name, "Deployment/") {
			t.Errorf("PDB %s: selector %v must select the pods of one Deployment", p.Name, p.Spec.Selector)
		}
	}

	// Consumer groups: Kafka gives a partition to one member of a group.
	partitions := 0
	for _, cm := range c.configMaps {
		if v, ok := cm.Data["LAMBDA_KAFKA_PARTITIONS"]; ok {
			partitions, _ = strconv.Atoi(v)
		}
	}
	for _, name := range sortedKeys(c.deployments) {
		d := c.deployments[name]
		for _, ctr := range d.Spec.Template.Spec.Containers {
			cmd := strings.Join(command(ctr.Args), " ")
			if (cmd == "speed" || cmd == "archive") && (d.Spec.Replicas == nil || partitions == 0 || int(*d.Spec.Replicas) > partitions) {
				t.Errorf("Deployment %s (lambda %s, a consumer group): replicas must be set and ≤ LAMBDA_KAFKA_PARTITIONS (%d)", name, cmd, partitions)
			}
		}
	}

	for _, w := range c.workloads() {
		spec := &w.pod.Spec
		if sc := spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid {
			t.Errorf("%s: the pod must run as non-root user %d, the Dockerfile's", w.name, uid)
		}
		for _, ctr := range spec.Containers {
			for _, pr := range []*corev1.Probe{ctr.StartupProbe, ctr.LivenessProbe, ctr.ReadinessProbe} {
				if pr != nil && (pr.HTTPGet == nil || containerPort(spec, pr.HTTPGet.Port) == 0) {
					t.Errorf("%s container %s: a probe that is not an httpGet on a declared container port", w.name, ctr.Name)
				}
			}
		}
		if a := w.pod.Annotations; a["prometheus.io/scrape"] == "true" {
			port, _ := strconv.Atoi(a["prometheus.io/port"])
			if containerPort(spec, intstr.FromInt(port)) == 0 || a["prometheus.io/path"] == "" {
				t.Errorf("%s: prometheus.io/port %q must be a declared container port and prometheus.io/path set", w.name, a["prometheus.io/port"])
			}
		}
	}
	checkK8sEnv(t, c)
}

// checkK8sEnv checks the configuration the containers get: ConfigMaps and Secrets they
// name exist, each Secret key is the variable it is given as and is given to some
// container, each variable a container gets by name is read by its command, each key
// of the shared ConfigMap by the command of some container that gets it, and every
// listen address is a declared port.
func checkK8sEnv(t *testing.T, c *cluster) {
	given := map[string][]string{}      // ConfigMap key -> containers that get it
	readers := map[string][][]string{}  // container -> its command
	secretKeysUsed := map[string]bool{} // "secret/key"
	for _, w := range c.workloads() {
		for _, ctr := range w.pod.Spec.Containers {
			place := w.name + " container " + ctr.Name
			if len(ctr.Command) != 0 {
				t.Errorf("%s: sets command; the image's entrypoint is lambda, give the subcommand as args", place)
			}
			readers[place] = [][]string{ctr.Args}
			for _, from := range ctr.EnvFrom {
				switch {
				case from.ConfigMapRef != nil:
					cm, ok := c.configMaps[from.ConfigMapRef.Name]
					if !ok {
						t.Errorf("%s: envFrom ConfigMap %q does not exist", place, from.ConfigMapRef.Name)
						continue
					}
					for k := range cm.Data {
						given[k] = append(given[k], place)
					}
				default:
					t.Errorf("%s: envFrom other than a ConfigMap; give each secret by name (secretKeyRef)", place)
				}
			}
			for _, e := range ctr.Env {
				checkEnvRead(t, map[string][]string{e.Name: {place}}, readers)
				if e.ValueFrom == nil {
					checkListenAddr(t, place, &w.pod.Spec, e)
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if ref == nil {
					t.Errorf("%s: %s comes from something other than a Secret key", place, e.Name)
					continue
				}
				s, ok := c.secrets[ref.Name]
				if !ok {
					t.Errorf("%s: %s names Secret %q, which does not exist", place, e.Name, ref.Name)
					continue
				}
				if _, ok := secretKeys(s)[ref.Key]; !ok {
					t.Errorf("%s: %s names key %q, which Secret %s does not have", place, e.Name, ref.Key, s.Name)
				}
				if ref.Key != e.Name {
					t.Errorf("%s: variable %s comes from Secret key %s; keys must be the variables' names", place, e.Name, ref.Key)
				}
				secretKeysUsed[ref.Name+"/"+ref.Key] = true
			}
		}
	}
	for _, name := range sortedKeys(c.secrets) {
		for k := range secretKeys(c.secrets[name]) {
			if !secretKeysUsed[name+"/"+k] {
				t.Errorf("Secret %s: key %s is given to no container", name, k)
			}
		}
	}
	checkEnvRead(t, given, readers)
}

func secretKeys(s *corev1.Secret) map[string]bool {
	keys := map[string]bool{}
	for k := range s.Data {
		keys[k] = true
	}
	for k := range s.StringData {
		keys[k] = true
	}
	return keys
}

// listenAddr matches a listen address a container is given, such as 0.0.0.0:8080.
var listenAddr = regexp.MustCompile(`^0\.0\.0\.0:(\d+)$`)

// checkListenAddr checks that a listen address the container gets is a port it declares.
func checkListenAddr(t *testing.T, place string, spec *corev1.PodSpec, e corev1.EnvVar) {
	m := listenAddr.FindStringSubmatch(e.Value)
	if m == nil {
		return
	}
	port, _ := strconv.Atoi(m[1])
	if containerPort(spec, intstr.FromInt(port)) == 0 {
		t.Errorf("%s: %s=%s listens on a port the pod does not declare", place, e.Name, e.Value)
	}
}

// dockerfileUID is the uid of the Dockerfile's final USER.
func dockerfileUID(t *testing.T) int64 {
	t.Helper()
	user := finalStage(t)["USER"]
	if len(user) != 1 {
		t.Fatalf("Dockerfile: want one USER in the final stage, have %q", user)
	}
	uid, err := strconv.ParseInt(strings.SplitN(user[0], ":", 2)[0], 10, 64)
	if err != nil {
		t.Fatalf("Dockerfile: USER %q is not a numeric uid (Kubernetes' runAsNonRoot needs one)", user[0])
	}
	return uid
}
