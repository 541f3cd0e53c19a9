package oci

import (
	"context"
	"fmt"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// DockerCredentialStore opens the Docker config file ($DOCKER_CONFIG/config.json or ~/.docker/config.json) with its
// credential helpers, so logins made with `docker login` or `oras login` are used and ours are seen by them.
func DockerCredentialStore() (credentials.Store, error) {
	store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{
		AllowPlaintextPut:        true, // like docker: without a helper, base64 in config.json
		DetectDefaultNativeStore: true,
	})
	if err != nil {
		return nil, fmt.Errorf("open Docker credential config (check $DOCKER_CONFIG/config.json): %w", err)
	}
	return store, nil
}

// CredentialFunc adapts a credential store to the function the HTTP client asks per registry.
func CredentialFunc(store credentials.Store) auth.CredentialFunc {
	return credentials.Credential(store)
}

// CredentialsFromDockerConfigJSON turns the raw bytes of a Kubernetes kubernetes.io/dockerconfigjson secret
// (its .dockerconfigjson key: {"auths":{"host":{"auth":"base64(user:pass)"}}}) into a credential function.
// The operator reads the secret; this package stays free of Kubernetes imports.
func CredentialsFromDockerConfigJSON(data []byte) (auth.CredentialFunc, error) {
	store, err := credentials.NewMemoryStoreFromDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("parse .dockerconfigjson: %w", err)
	}
	return credentials.Credential(store), nil
}

// Login checks user and password against the registry and, when accepted, saves them in store.
func (c *Client) Login(ctx context.Context, store credentials.Store, host, user, password string) error {
	if host == "" {
		return fmt.Errorf("login: %w: empty registry name", ErrInvalidReference)
	}
	reg, err := c.registry(host)
	if err != nil {
		return err
	}
	cred := auth.Credential{Username: user, Password: password}
	if user == "" {
		cred = auth.Credential{RefreshToken: password} // an identity token, as `docker login` stores for some registries
	}
	if err := credentials.Login(ctx, store, reg, cred); err != nil {
		return classify("login "+host, nil, err)
	}
	return nil
}

// Logout removes the saved credentials for host from store.
func Logout(ctx context.Context, store credentials.Store, host string) error {
	if err := credentials.Logout(ctx, store, host); err != nil {
		return fmt.Errorf("logout %s: %w", host, err)
	}
	return nil
}
