// Package store is what the WasmDeployment reconciler reads and writes, behind one small interface so the same
// reconciler runs against the Kubernetes API (Kube) or a directory of YAML files (Dir, for a single machine and the
// demo, no cluster needed).
//
//	st := store.NewDir(store.DirOptions{Dir: "deploy/"})
//	go st.Start(ctx)                       // polls the directory, sends changed keys on st.Changes()
//	wd, err := st.Get(ctx, types.NamespacedName{Namespace: "default", Name: "auth"})
//	wd.Status.ResolvedDigest = "sha256:..."
//	err = st.UpdateStatus(ctx, wd)         // written to deploy/default.auth.status.yaml, atomically
package store

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/types"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// Store holds WasmDeployments, their pull secrets and their events.
type Store interface {
	// Get returns a copy of the WasmDeployment the caller may modify; ErrNotFound when it does not exist.
	Get(ctx context.Context, key types.NamespacedName) (*v1alpha1.WasmDeployment, error)
	// List returns the keys of every WasmDeployment.
	List(ctx context.Context) ([]types.NamespacedName, error)
	// UpdateStatus writes wd.Status (only the status) for wd's key.
	UpdateStatus(ctx context.Context, wd *v1alpha1.WasmDeployment) error
	// PullSecret returns the .dockerconfigjson of a kubernetes.io/dockerconfigjson Secret in namespace, and only
	// in that namespace: a WasmDeployment never reads another namespace's secrets.
	PullSecret(ctx context.Context, namespace, name string) ([]byte, error)
	// Event records an event about wd; eventType is "Normal" or "Warning".
	Event(wd *v1alpha1.WasmDeployment, eventType, reason, message string)
}

var (
	// ErrNotFound: the WasmDeployment or Secret does not exist.
	ErrNotFound = errors.New("not found")
	// ErrWrongSecretType: the Secret is not a kubernetes.io/dockerconfigjson secret.
	ErrWrongSecretType = errors.New("secret is not of type kubernetes.io/dockerconfigjson")
)

// Event types, as Kubernetes spells them.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// DockerConfigJSONKey is the data key of a kubernetes.io/dockerconfigjson Secret.
const DockerConfigJSONKey = ".dockerconfigjson"
