package oci_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// TestDockerConfigJSONSecret pulls with credentials taken from the bytes of a kubernetes.io/dockerconfigjson
// secret, as the operator does.
func TestDockerConfigJSONSecret(t *testing.T) {
	reg := secureRegistry(t)
	ref := reg.Host + "/secret/demo:v1"
	wasm := registrytest.Module([]byte("secret"))
	if _, err := clientFor(t, reg, nil).Push(ctx(t), ref, wasm, oci.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := func(user, pass string) []byte {
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		return fmt.Appendf(nil, `{"auths":{"https://%s":{"auth":%q}}}`, reg.Host, auth)
	}
	tests := []struct {
		name   string
		secret []byte
		want   error
	}{
		{"right", secret(reg.User, reg.Password), nil},
		{"wrong", secret(reg.User, "nope"), oci.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := oci.CredentialsFromDockerConfigJSON(tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			c := clientFor(t, reg, func(o *oci.Options) { o.Credential = cred })
			if _, err := c.Pull(ctx(t), ref, oci.PullOptions{}); !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	for _, bad := range []string{`{`, `{"auths":{"h":{"auth":"!!"}}}`} {
		if _, err := oci.CredentialsFromDockerConfigJSON([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
