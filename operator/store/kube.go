package store

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// Kube is the Store of a cluster. Client reads WasmDeployments (the manager's cached client); Secrets are read
// through SecretReader, which should be uncached (the manager's APIReader) so the operator needs only "get" on
// secrets in the namespaces that use them, never a cluster-wide watch of every secret.
type Kube struct {
	Client       client.Client
	SecretReader client.Reader
	Recorder     record.EventRecorder
}

var _ Store = (*Kube)(nil)

// Get implements Store.
func (k *Kube) Get(ctx context.Context, key types.NamespacedName) (*v1alpha1.WasmDeployment, error) {
	var wd v1alpha1.WasmDeployment
	if err := k.Client.Get(ctx, key, &wd); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("WasmDeployment %s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("reading WasmDeployment %s: %w", key, err)
	}
	return &wd, nil
}

// List implements Store.
func (k *Kube) List(ctx context.Context) ([]types.NamespacedName, error) {
	var l v1alpha1.WasmDeploymentList
	if err := k.Client.List(ctx, &l); err != nil {
		return nil, fmt.Errorf("listing WasmDeployments: %w", err)
	}
	keys := make([]types.NamespacedName, 0, len(l.Items))
	for i := range l.Items {
		keys = append(keys, types.NamespacedName{Namespace: l.Items[i].Namespace, Name: l.Items[i].Name})
	}
	return keys, nil
}

// UpdateStatus implements Store. A conflict (someone changed the object since Get) is returned as is: the
// reconciler is level-based, so the retry reads the new object and computes the status again.
func (k *Kube) UpdateStatus(ctx context.Context, wd *v1alpha1.WasmDeployment) error {
	if err := k.Client.Status().Update(ctx, wd); err != nil {
		return fmt.Errorf("updating the status of WasmDeployment %s/%s: %w", wd.Namespace, wd.Name, err)
	}
	return nil
}

// PullSecret implements Store.
func (k *Kube) PullSecret(ctx context.Context, namespace, name string) ([]byte, error) {
	reader := k.SecretReader
	if reader == nil {
		reader = k.Client
	}
	var s corev1.Secret
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, ErrNotFound)
		}
		return nil, fmt.Errorf("reading secret %s/%s (does the operator have get on secrets in %s?): %w", namespace, name, namespace, err)
	}
	if s.Type != corev1.SecretTypeDockerConfigJson {
		return nil, fmt.Errorf("secret %s/%s has type %q: %w", namespace, name, s.Type, ErrWrongSecretType)
	}
	return s.Data[DockerConfigJSONKey], nil
}

// Event implements Store.
func (k *Kube) Event(wd *v1alpha1.WasmDeployment, eventType, reason, message string) {
	if k.Recorder != nil {
		k.Recorder.Event(wd, eventType, reason, message)
	}
}
