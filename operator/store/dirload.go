package store

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// maxFileBytes bounds one YAML file of the directory: a WasmDeployment is a few KiB.
const maxFileBytes = 1 << 20

// DefaultNamespace is the namespace of objects in a directory that do not name one, as kubectl does.
const DefaultNamespace = "default"

// Objects is what one YAML file holds.
type Objects struct {
	Deployments []*v1alpha1.WasmDeployment
	Secrets     []*corev1.Secret
}

// ParseFile decodes every document of a YAML file: WasmDeployments (wasmesh.io/v1alpha1) and Secrets (v1, for
// imagePullSecrets). Unknown fields are errors, so a typo does not silently drop a setting; so are other kinds.
// The directory has no API server, hence no CEL validation or defaulting: ParseFile checks what the reconciler
// relies on (url, name, one of selector and targetRefs) and the reconciler treats empty fields as their defaults.
func ParseFile(name string, data []byte) (Objects, error) {
	var out Objects
	if len(data) > maxFileBytes {
		return out, fmt.Errorf("%s: %d bytes, more than the %d allowed for one file", name, len(data), maxFileBytes)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		j, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return out, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		if len(bytes.TrimSpace(j)) == 0 || string(bytes.TrimSpace(j)) == "null" {
			continue // an empty document between two ---
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(j, &tm); err != nil {
			return out, fmt.Errorf("%s: document %d: %w", name, doc, err)
		}
		switch {
		case tm.APIVersion == v1alpha1.GroupVersion.String() && tm.Kind == v1alpha1.Kind:
			var wd v1alpha1.WasmDeployment
			if err := strictJSON(j, &wd); err != nil {
				return out, fmt.Errorf("%s: document %d (WasmDeployment): %w", name, doc, err)
			}
			if err := checkDeployment(&wd); err != nil {
				return out, fmt.Errorf("%s: document %d: %w", name, doc, err)
			}
			out.Deployments = append(out.Deployments, &wd)
		case tm.APIVersion == "v1" && tm.Kind == "Secret":
			var s corev1.Secret
			if err := strictJSON(j, &s); err != nil {
				return out, fmt.Errorf("%s: document %d (Secret): %w", name, doc, err)
			}
			if s.Name == "" {
				return out, fmt.Errorf("%s: document %d: Secret needs metadata.name", name, doc)
			}
			if s.Namespace == "" {
				s.Namespace = DefaultNamespace
			}
			// stringData is the hand-written form; the API server would merge it into data.
			for k, v := range s.StringData {
				if s.Data == nil {
					s.Data = map[string][]byte{}
				}
				s.Data[k] = []byte(v)
			}
			out.Secrets = append(out.Secrets, &s)
		default:
			return out, fmt.Errorf("%s: document %d: apiVersion %q kind %q: expected wasmesh.io/v1alpha1 WasmDeployment or v1 Secret", name, doc, tm.APIVersion, tm.Kind)
		}
	}
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func checkDeployment(wd *v1alpha1.WasmDeployment) error {
	if wd.Name == "" {
		return errors.New("WasmDeployment needs metadata.name")
	}
	if wd.Namespace == "" {
		wd.Namespace = DefaultNamespace
	}
	if wd.Spec.URL == "" {
		return fmt.Errorf("WasmDeployment %s/%s: spec.url is required", wd.Namespace, wd.Name)
	}
	if (wd.Spec.Selector == nil) == (len(wd.Spec.TargetRefs) == 0) {
		return fmt.Errorf("WasmDeployment %s/%s: exactly one of spec.selector or spec.targetRefs must be set (use selector: {} for every workload in the namespace)", wd.Namespace, wd.Name)
	}
	// Status belongs to the operator; what a file says about it is ignored.
	wd.Status = v1alpha1.WasmDeploymentStatus{}
	return nil
}
