// Package check holds the offline schema check of the Kubernetes manifests in
// deploy/kubernetes: every object decodes strictly into its k8s.io/api type
// (unknown, duplicate or miscased fields refused), and every object the
// Deployment refers to is in the same file or named as one the user creates.
// It is a module of its own so that k8s.io/api stays out of certgal's go.mod.
package check

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifest is one file's objects, by kind and name.
type manifest struct {
	path        string
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	monitors    []*monitoringv1.ServiceMonitor
	userCreated map[string]bool // "Kind/name" from "# You create: Kind/name" lines
}

var kinds = map[string]func() any{
	"v1/ConfigMap":                  func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                     func() any { return new(corev1.Secret) },
	"v1/Service":                    func() any { return new(corev1.Service) },
	"apps/v1/Deployment":            func() any { return new(appsv1.Deployment) },
	"policy/v1/PodDisruptionBudget": func() any { return new(policyv1.PodDisruptionBudget) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
}

func load(t *testing.T, path string) *manifest {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest{path: path, configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, userCreated: map[string]bool{}}
	for _, c := range regexp.MustCompile(`(?m)^# You create: (\w+/\S+)`).FindAllSubmatch(raw, -1) {
		m.userCreated[string(c[1])] = true
	}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, i+1, err)
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(js, &head); err != nil || head.Kind == "" {
			t.Fatalf("%s: document %d has no kind (%v)", path, i+1, err)
		}
		newObj, ok := kinds[head.APIVersion+"/"+head.Kind]
		if !ok {
			t.Fatalf("%s: document %d: no schema here for %s %s", path, i+1, head.APIVersion, head.Kind)
		}
		obj := newObj()
		strict, err := kjson.UnmarshalStrict(js, obj)
		if err != nil {
			t.Fatalf("%s: %s: %v", path, head.Kind, err)
		}
		for _, e := range strict {
			t.Errorf("%s: %s: %v", path, head.Kind, e)
		}
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			m.configMaps[o.Name] = o
		case *corev1.Secret:
			m.secrets[o.Name] = o
		case *appsv1.Deployment:
			m.deployments = append(m.deployments, o)
		case *corev1.Service:
			m.services = append(m.services, o)
		case *policyv1.PodDisruptionBudget:
			m.pdbs = append(m.pdbs, o)
		case *monitoringv1.ServiceMonitor:
			m.monitors = append(m.monitors, o)
		}
	}
	return m
}

func manifests(t *testing.T) []string {
	paths, err := filepath.Glob("../*.yaml")
	if err != nil || len(paths) < 2 {
		t.Fatalf("manifests: %v %v", paths, err)
	}
	return paths
}

// TestManifestsDecodeStrictly: a typo'd or misplaced field is an error here,
// not a field the API server drops without a word.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, p := range manifests(t) {
		m := load(t, p)
		if len(m.deployments) != 1 {
			t.Errorf("%s: %d Deployments, want 1", p, len(m.deployments))
		}
	}
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestManifestsResolve: every ConfigMap, Secret and claim the pod mounts, every
// port a probe or Service names and every selector finds its object.
func TestManifestsResolve(t *testing.T) {
	for _, p := range manifests(t) {
		m := load(t, p)
		for _, d := range m.deployments {
			pod := d.Spec.Template
			if d.Spec.Selector == nil || !matches(d.Spec.Selector.MatchLabels, pod.Labels) {
				t.Errorf("%s: the Deployment's selector does not select its pods", p)
			}
			volumes := map[string]bool{}
			for _, v := range pod.Spec.Volumes {
				volumes[v.Name] = true
				switch {
				case v.ConfigMap != nil && m.configMaps[v.ConfigMap.Name] == nil && !m.userCreated["ConfigMap/"+v.ConfigMap.Name]:
					t.Errorf("%s: volume %s: ConfigMap %s is neither here nor marked as yours", p, v.Name, v.ConfigMap.Name)
				case v.Secret != nil && m.secrets[v.Secret.SecretName] == nil && !m.userCreated["Secret/"+v.Secret.SecretName]:
					t.Errorf("%s: volume %s: Secret %s is neither here nor marked as yours", p, v.Name, v.Secret.SecretName)
				case v.PersistentVolumeClaim != nil && !m.userCreated["PersistentVolumeClaim/"+v.PersistentVolumeClaim.ClaimName]:
					t.Errorf("%s: volume %s: PersistentVolumeClaim %s is not marked as yours", p, v.Name, v.PersistentVolumeClaim.ClaimName)
				}
			}
			for kind := range m.userCreated {
				name := kind[strings.Index(kind, "/")+1:]
				used := false
				for _, v := range pod.Spec.Volumes {
					used = used || (v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == name) ||
						(v.ConfigMap != nil && v.ConfigMap.Name == name) || (v.Secret != nil && v.Secret.SecretName == name)
				}
				if !used {
					t.Errorf("%s: marked as yours but not used: %s", p, kind)
				}
			}
			ports := map[string]bool{}
			for _, c := range pod.Spec.Containers {
				for _, port := range c.Ports {
					ports[port.Name] = true
				}
				for _, vm := range c.VolumeMounts {
					if !volumes[vm.Name] {
						t.Errorf("%s: mount %s has no volume", p, vm.Name)
					}
					if vm.SubPath != "" {
						t.Errorf("%s: mount %s uses subPath: a changed ConfigMap or Secret never reaches it", p, vm.Name)
					}
				}
				for what, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
					if probe == nil || probe.HTTPGet == nil {
						t.Errorf("%s: container %s has no HTTP %s probe", p, c.Name, what)
						continue
					}
					if port := probe.HTTPGet.Port; port.Type == intstr.String && !ports[port.StrVal] {
						t.Errorf("%s: %s probe on unknown port %s", p, what, port.StrVal)
					}
				}
				checkConfigPaths(t, p, c, m)
			}
			for _, s := range m.services {
				if !matches(s.Spec.Selector, pod.Labels) {
					t.Errorf("%s: Service %s selects no pod", p, s.Name)
				}
				for _, sp := range s.Spec.Ports {
					if sp.TargetPort.Type == intstr.String && !ports[sp.TargetPort.StrVal] {
						t.Errorf("%s: Service %s: target port %s is not the container's", p, s.Name, sp.TargetPort.StrVal)
					}
				}
			}
			for _, b := range m.pdbs {
				if b.Spec.Selector == nil || !matches(b.Spec.Selector.MatchLabels, pod.Labels) {
					t.Errorf("%s: PodDisruptionBudget %s selects no pod", p, b.Name)
				}
			}
			checkChecksum(t, p, pod.Annotations, m)
		}
		for _, sm := range m.monitors {
			found := false
			for _, s := range m.services {
				if matches(sm.Spec.Selector.MatchLabels, s.Labels) {
					for _, e := range sm.Spec.Endpoints {
						for _, sp := range s.Spec.Ports {
							found = found || sp.Name == e.Port
						}
					}
				}
			}
			if !found {
				t.Errorf("%s: ServiceMonitor %s finds no Service port", p, sm.Name)
			}
		}
	}
}

// checkConfigPaths: every absolute path in certgal's configuration is under a
// volume the container mounts, and the container is started with that file.
func checkConfigPaths(t *testing.T, p string, c corev1.Container, m *manifest) {
	t.Helper()
	var cfgPath string
	for i, a := range c.Args {
		if a == "-config" && i+1 < len(c.Args) {
			cfgPath = c.Args[i+1]
		}
	}
	mounted := func(path string) string {
		for _, vm := range c.VolumeMounts {
			if dir := strings.TrimSuffix(vm.MountPath, "/"); path == dir || strings.HasPrefix(path, dir+"/") {
				return vm.Name
			}
		}
		return ""
	}
	vol := mounted(cfgPath)
	if vol == "" {
		t.Fatalf("%s: -config %q is on no volume", p, cfgPath)
	}
	var cm *corev1.ConfigMap
	for _, v := range m.deployments[0].Spec.Template.Spec.Volumes {
		if v.Name == vol && v.ConfigMap != nil {
			cm = m.configMaps[v.ConfigMap.Name]
		}
	}
	if cm == nil {
		t.Fatalf("%s: -config %q is not on a ConfigMap of this file", p, cfgPath)
	}
	data, ok := cm.Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("%s: ConfigMap %s has no key %s", p, cm.Name, filepath.Base(cfgPath))
	}
	for _, path := range regexp.MustCompile(`[\s\[,:]\s*(/(?:etc|var|run|srv)/[^\s,\]"]+)`).FindAllStringSubmatch(data, -1) {
		if mounted(path[1]) == "" {
			t.Errorf("%s: the configuration names %s, which no volume mount holds", p, path[1])
		}
	}
}

// checkChecksum: the pod template carries the hash of the ConfigMap's data, so
// that changing the configuration rolls the Deployment.
func checkChecksum(t *testing.T, p string, annotations map[string]string, m *manifest) {
	t.Helper()
	cm := m.configMaps["certgal"]
	if cm == nil {
		t.Errorf("%s: no ConfigMap certgal", p)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(cm.Data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bytes.TrimSpace(buf.Bytes()))
	if want, got := hex.EncodeToString(sum[:]), annotations["checksum/config"]; got != want {
		t.Errorf("%s: checksum/config is %q; the ConfigMap's data hashes to %q: set it so, the pod rolls on the change", p, got, want)
	}
}

func TestMain(m *testing.M) {
	if _, err := os.Stat("../certgal.yaml"); err != nil {
		fmt.Fprintln(os.Stderr, "run from deploy/kubernetes/check:", err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
