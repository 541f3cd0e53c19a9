package oci_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registrytest"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// clientFor returns a client trusting reg's CA and holding its credentials.
func clientFor(t *testing.T, reg *registrytest.Registry, mod func(*oci.Options)) *oci.Client {
	t.Helper()
	opts := oci.Options{
		Registries: map[string]oci.RegistryOptions{reg.Host: {CAFile: reg.CAFile, PlainHTTP: reg.CAFile == ""}},
		Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: reg.User, Password: reg.Password}),
		Timeout:    10 * time.Second,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := oci.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawRepo is an oras repository on reg for building artifacts this package does not write itself.
func rawRepo(t *testing.T, reg *registrytest.Registry, name string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(reg.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = reg.CAFile == ""
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = reg.CAPool
	repo.Client = &auth.Client{
		Client:     &http.Client{Transport: tr},
		Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: reg.User, Password: reg.Password}),
	}
	return repo
}

func pushBytes(t *testing.T, repo *remote.Repository, mediaType string, data []byte) ocispec.Descriptor {
	t.Helper()
	d := content.NewDescriptorFromBytes(mediaType, data)
	if err := repo.Push(context.Background(), d, bytes.NewReader(data)); err != nil {
		t.Fatalf("push %s: %v", mediaType, err)
	}
	return d
}

func pushManifest(t *testing.T, repo *remote.Repository, tag, mediaType string, v any) ocispec.Descriptor {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := content.NewDescriptorFromBytes(mediaType, raw)
	if err := repo.PushReference(context.Background(), d, bytes.NewReader(raw), tag); err != nil {
		t.Fatalf("push manifest: %v", err)
	}
	return d
}

func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The registry with TLS and auth serves most tests; it is started once per test function that needs it.
func secureRegistry(t *testing.T) *registrytest.Registry {
	return registrytest.Start(t, registrytest.Config{TLS: true, Auth: true})
}

func TestPushPullRoundTrip(t *testing.T) {
	secure := secureRegistry(t)
	plain := registrytest.Start(t, registrytest.Config{})
	wasm := registrytest.Module([]byte("round trip"))
	for _, reg := range []*registrytest.Registry{secure, plain} {
		for _, format := range []oci.Format{oci.FormatIstio, oci.FormatWasm} {
			t.Run(fmt.Sprintf("%s/tls=%v", format, reg.CAFile != ""), func(t *testing.T) {
				c := clientFor(t, reg, nil)
				ref := reg.Host + "/filters/demo:" + string(format)
				var pushed int64
				desc, err := c.Push(ctx(t), ref, wasm, oci.PushOptions{
					Format:       format,
					Annotations:  map[string]string{oci.AnnotationSource: "https://example.test/demo", oci.AnnotationABIVersion: "0.2.1"},
					PluginConfig: []byte(`{"header":"x-demo"}`),
					Progress:     func(done, _ int64) { pushed = done },
				})
				if err != nil {
					t.Fatal(err)
				}
				if pushed != int64(len(wasm)) {
					t.Errorf("progress reported %d bytes, want %d", pushed, len(wasm))
				}
				for _, r := range []string{ref, reg.Host + "/filters/demo@" + desc.Digest.String(), ref + "@" + desc.Digest.String()} {
					m, err := c.Pull(ctx(t), r, oci.PullOptions{SHA256: digest.FromBytes(wasm).Encoded(), WithPluginConfig: true})
					if err != nil {
						t.Fatalf("pull %s: %v", r, err)
					}
					if !bytes.Equal(m.Bytes, wasm) || m.ManifestDigest != desc.Digest || m.ModuleDigest != digest.FromBytes(wasm) {
						t.Errorf("pull %s: got %d bytes, manifest %s module %s", r, len(m.Bytes), m.ManifestDigest, m.ModuleDigest)
					}
					if m.Annotations[oci.AnnotationSource] != "https://example.test/demo" || m.Annotations[oci.AnnotationCreated] == "" {
						t.Errorf("annotations lost: %v", m.Annotations)
					}
					if string(m.PluginConfig) != `{"header":"x-demo"}` {
						t.Errorf("plugin config = %q", m.PluginConfig)
					}
				}
				m, _ := c.Pull(ctx(t), ref, oci.PullOptions{})
				if m.PluginConfig != nil {
					t.Errorf("plugin config fetched without WithPluginConfig")
				}
				// Istio's agent wants exactly [runtime config, module]; the CNCF artifact has the module alone.
				wantLayer, wantConfig, wantLayers := oci.MediaTypeIstioLayer, oci.MediaTypeIstioConfig, []string{oci.MediaTypeIstioConfig, oci.MediaTypeIstioLayer}
				if format == oci.FormatWasm {
					wantLayer, wantConfig, wantLayers = oci.MediaTypeWasmLayer, oci.MediaTypeWasmConfig, []string{oci.MediaTypeWasmLayer}
					if m.ArtifactType != oci.MediaTypeWasmConfig {
						t.Errorf("artifactType = %q", m.ArtifactType)
					}
				}
				var gotLayers []string
				for _, l := range m.Layers {
					gotLayers = append(gotLayers, l.MediaType)
				}
				if fmt.Sprint(gotLayers) != fmt.Sprint(wantLayers) {
					t.Errorf("layers %v, want %v", gotLayers, wantLayers)
				}
				if m.Layer.MediaType != wantLayer || m.Config.MediaType != wantConfig {
					t.Errorf("layer %q config %q, want %q %q", m.Layer.MediaType, m.Config.MediaType, wantLayer, wantConfig)
				}
			})
		}
	}
}

func TestPullCompatAndIndex(t *testing.T) {
	reg := secureRegistry(t)
	c := clientFor(t, reg, nil)
	repo := rawRepo(t, reg, "compat/plugin")
	wasm := registrytest.Module([]byte("compat"))

	// A Docker image with three layers, plugin.wasm in the last (Istio's exact-two-layer rule would refuse it).
	dockerCfg := pushBytes(t, repo, oci.MediaTypeDockerImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	l1 := pushBytes(t, repo, oci.MediaTypeDockerLayerTarGz, tarGz(t, map[string][]byte{"etc/hostname": []byte("x")}))
	l2 := pushBytes(t, repo, oci.MediaTypeDockerLayerTarGz, tarGz(t, map[string][]byte{"README": []byte("y")}))
	l3 := pushBytes(t, repo, oci.MediaTypeDockerLayerTarGz, tarGz(t, map[string][]byte{"plugin.wasm": wasm}))
	pushManifest(t, repo, "docker", oci.MediaTypeDockerManifest, map[string]any{
		"schemaVersion": 2, "mediaType": oci.MediaTypeDockerManifest, "config": dockerCfg, "layers": []ocispec.Descriptor{l1, l2, l3},
	})
	// An OCI image whose plugin.wasm is in the only layer, written "./plugin.wasm" as `tar -C dir .` does.
	ociCfg := pushBytes(t, repo, oci.MediaTypeOCIImageConfig, []byte(`{"architecture":"wasm","os":"wasip1","rootfs":{"type":"layers","diff_ids":[]}}`))
	ol := pushBytes(t, repo, oci.MediaTypeOCILayerTarGzip, tarGz(t, map[string][]byte{"./plugin.wasm": wasm}))
	ociMan := pushManifest(t, repo, "oci", ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: ociCfg, Layers: []ocispec.Descriptor{ol},
	})
	// An index with a linux/amd64 decoy first and the wasip1/wasm image second.
	decoyLayer := pushBytes(t, repo, oci.MediaTypeOCILayerTarGzip, tarGz(t, map[string][]byte{"bin/sh": []byte("decoy")}))
	decoy := pushManifest(t, repo, "decoy", ocispec.MediaTypeImageManifest, ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: ociCfg, Layers: []ocispec.Descriptor{decoyLayer},
	})
	decoy.Platform = &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	wasmEntry := ociMan
	wasmEntry.Platform = &ocispec.Platform{OS: "wasip1", Architecture: "wasm"}
	idx := pushManifest(t, repo, "index", ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{decoy, wasmEntry},
	})
	pushManifest(t, repo, "decoy-index", ocispec.MediaTypeImageIndex, ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{decoy},
	})

	for _, tag := range []string{"docker", "oci", "index"} {
		m, err := c.Pull(ctx(t), reg.Host+"/compat/plugin:"+tag, oci.PullOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tag, err)
		}
		if !bytes.Equal(m.Bytes, wasm) || !m.Compat {
			t.Errorf("%s: got %d bytes compat=%v", tag, len(m.Bytes), m.Compat)
		}
		if tag == "index" && (m.IndexDigest != idx.Digest || m.ManifestDigest != ociMan.Digest) {
			t.Errorf("index: index %s manifest %s, want %s %s", m.IndexDigest, m.ManifestDigest, idx.Digest, ociMan.Digest)
		}
	}
	_, err := c.Pull(ctx(t), reg.Host+"/compat/plugin:decoy-index", oci.PullOptions{})
	if !errors.Is(err, oci.ErrNoModule) || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("index without wasip1/wasm: %v", err)
	}
	_, err = c.Pull(ctx(t), reg.Host+"/compat/plugin:decoy", oci.PullOptions{})
	if !errors.Is(err, oci.ErrNoModule) {
		t.Errorf("image without plugin.wasm: %v", err)
	}
}

func TestPullBadInput(t *testing.T) {
	reg := secureRegistry(t)
	c := clientFor(t, reg, nil)
	repo := rawRepo(t, reg, "bad/input")
	wasm := registrytest.Module([]byte("bad input"))
	cfg := pushBytes(t, repo, oci.MediaTypeIstioConfig, []byte(`{}`))
	manifest := func(layers ...ocispec.Descriptor) ocispec.Manifest {
		return ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: layers}
	}
	notWasm := pushBytes(t, repo, oci.MediaTypeIstioLayer, []byte("#!/bin/sh\necho not wasm\n"))
	pushManifest(t, repo, "not-wasm", ocispec.MediaTypeImageManifest, manifest(notWasm))
	helm := pushBytes(t, repo, "application/vnd.cncf.helm.chart.content.v1.tar+gzip", tarGz(t, map[string][]byte{"Chart.yaml": []byte("name: x")}))
	pushManifest(t, repo, "helm", ocispec.MediaTypeImageManifest, manifest(helm))
	big := pushBytes(t, repo, oci.MediaTypeIstioLayer, registrytest.Module(make([]byte, 64<<10)))
	pushManifest(t, repo, "big", ocispec.MediaTypeImageManifest, manifest(big))
	manyLayers := make([]ocispec.Descriptor, 0, 200)
	for range 200 {
		manyLayers = append(manyLayers, notWasm)
	}
	pushManifest(t, repo, "big-manifest", ocispec.MediaTypeImageManifest, manifest(manyLayers...))
	good := pushManifest(t, repo, "good", ocispec.MediaTypeImageManifest, manifest(pushBytes(t, repo, oci.MediaTypeIstioLayer, wasm)))
	pushManifest(t, repo, "moved", ocispec.MediaTypeImageManifest, manifest(big))

	small := clientFor(t, reg, func(o *oci.Options) { o.MaxModuleBytes = 32 << 10; o.MaxManifestBytes = 8 << 10 })
	tests := []struct {
		name   string
		client *oci.Client
		ref    string
		opts   oci.PullOptions
		want   error
	}{
		{"not wasm", c, "bad/input:not-wasm", oci.PullOptions{}, oci.ErrNotWasm},
		{"helm chart", c, "bad/input:helm", oci.PullOptions{}, oci.ErrUnsupportedMediaType},
		{"module over limit", small, "bad/input:big", oci.PullOptions{}, oci.ErrTooLarge},
		{"manifest over limit", small, "bad/input:big-manifest", oci.PullOptions{}, oci.ErrTooLarge},
		{"sha256 pin mismatch", c, "bad/input:good", oci.PullOptions{SHA256: strings.Repeat("ab", 32)}, oci.ErrDigestMismatch},
		{"unknown manifest digest", c, "bad/input@" + digest.FromString("nope").String(), oci.PullOptions{}, oci.ErrNotFound},
		{"tag moved", c, "bad/input:moved@" + good.Digest.String(), oci.PullOptions{}, oci.ErrTagMoved},
		{"missing tag", c, "bad/input:absent", oci.PullOptions{}, oci.ErrNotFound},
		{"bad pin", c, "bad/input:good", oci.PullOptions{SHA256: "xyz"}, oci.ErrInvalidReference},
		{"no registry host", c, "", oci.PullOptions{}, oci.ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := tt.ref
			if ref != "" {
				ref = reg.Host + "/" + ref
			}
			_, err := tt.client.Pull(ctx(t), ref, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") || (ref != "" && !strings.Contains(err.Error(), "bad/input")) {
				t.Errorf("error is not one line naming the reference: %q", err)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	reg := secureRegistry(t)
	wasm := registrytest.Module([]byte("faults"))
	ref := reg.Host + "/faults/demo:v1"
	if _, err := clientFor(t, reg, nil).Push(ctx(t), ref, wasm, oci.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downHost := down.Addr().String()
	down.Close()
	slowHost := strings.TrimPrefix(slow.URL, "http://")

	tests := []struct {
		name string
		ref  string
		opts oci.Options
		want error
	}{
		{"wrong password", ref, oci.Options{
			Registries: map[string]oci.RegistryOptions{reg.Host: {CAFile: reg.CAFile}},
			Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: reg.User, Password: "wrong"}),
		}, oci.ErrUnauthorized},
		{"no credentials", ref, oci.Options{
			Registries: map[string]oci.RegistryOptions{reg.Host: {CAFile: reg.CAFile}},
			Credential: auth.StaticCredential("elsewhere", auth.Credential{}),
		}, oci.ErrUnauthorized},
		{"unknown CA", ref, oci.Options{Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: reg.User, Password: reg.Password})}, oci.ErrTLS},
		{"https to plain server", slowHost + "/x:y", oci.Options{Credential: auth.StaticCredential("", auth.Credential{})}, oci.ErrTLS},
		{"registry down", downHost + "/x:y", oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}, Credential: auth.StaticCredential("", auth.Credential{})}, oci.ErrUnavailable},
		{"registry slow", slowHost + "/x:y", oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}, Timeout: 200 * time.Millisecond, Credential: auth.StaticCredential("", auth.Credential{})}, oci.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := oci.NewClient(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			c2, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err = c.Pull(c2, tt.ref, oci.PullOptions{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
		})
	}
	// --insecure skips verification of the unknown CA.
	c, err := oci.NewClient(oci.Options{
		Registries: map[string]oci.RegistryOptions{reg.Host: {Insecure: true}},
		Credential: auth.StaticCredential(reg.Host, auth.Credential{Username: reg.User, Password: reg.Password}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pull(ctx(t), ref, oci.PullOptions{}); err != nil {
		t.Errorf("insecure pull: %v", err)
	}
}

func TestPushRejects(t *testing.T) {
	c, err := oci.NewClient(oci.Options{Credential: auth.StaticCredential("", auth.Credential{}), MaxModuleBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ref  string
		wasm []byte
		opts oci.PushOptions
		want error
	}{
		{"not wasm", "127.0.0.1:1/x:y", []byte("ELF"), oci.PushOptions{}, oci.ErrNotWasm},
		{"too large", "127.0.0.1:1/x:y", registrytest.Module(make([]byte, 200)), oci.PushOptions{}, oci.ErrTooLarge},
		{"digest ref", "127.0.0.1:1/x@" + digest.FromString("x").String(), registrytest.Module(nil), oci.PushOptions{}, oci.ErrInvalidReference},
		{"bad ref", "no spaces allowed/x", registrytest.Module(nil), oci.PushOptions{}, oci.ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Push(context.Background(), tt.ref, tt.wasm, tt.opts); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestOrasInterop checks both directions against the real oras CLI.
func TestOrasInterop(t *testing.T) {
	oras := registrytest.Oras(t)
	reg := secureRegistry(t)
	c := clientFor(t, reg, nil)
	wasm := registrytest.Module([]byte("interop"))
	orasArgs := func(args ...string) []string {
		return append(args, "--ca-file", reg.CAFile, "-u", reg.User, "-p", reg.Password)
	}
	runOut := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command(oras, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("oras %s: %v\n%s", strings.Join(args[:2], " "), err, out)
		}
		return string(out)
	}
	run := func(dir string, args ...string) { t.Helper(); runOut(dir, args...) }

	for _, format := range []oci.Format{oci.FormatIstio, oci.FormatWasm} {
		ref := reg.Host + "/interop/ours:" + string(format)
		if _, err := c.Push(ctx(t), ref, wasm, oci.PushOptions{Format: format}); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if format == oci.FormatIstio { // with a plugin config referrer, which oras must see
			if _, err := c.Push(ctx(t), ref, wasm, oci.PushOptions{Format: format, PluginConfig: []byte(`{"a":1}`)}); err != nil {
				t.Fatal(err)
			}
			out := runOut(dir, orasArgs("discover", ref, "--format", "json")...)
			if !strings.Contains(out, oci.MediaTypePluginConfig) {
				t.Errorf("oras discover does not list the plugin config referrer:\n%s", out)
			}
		}
		run(dir, orasArgs("pull", ref, "-o", dir)...)
		got, err := os.ReadFile(filepath.Join(dir, "plugin.wasm"))
		if err != nil || !bytes.Equal(got, wasm) {
			t.Errorf("%s: oras pull gave %d bytes (%v), want the %d pushed", format, len(got), err, len(wasm))
		}
	}

	// The push command from Istio's docs, through oras (oras 1.x spells --manifest-config as --config).
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "filter.wasm"), wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "runtime-config.json"), []byte(`{"type":"envoy_proxy"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/interop/theirs:v1"
	run(dir, orasArgs("push", ref, "--config", "runtime-config.json:"+oci.MediaTypeIstioConfig, "filter.wasm:"+oci.MediaTypeIstioLayer)...)
	m, err := c.Pull(ctx(t), ref, oci.PullOptions{SHA256: digest.FromBytes(wasm).String()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Bytes, wasm) {
		t.Errorf("pull of oras push: %d bytes", len(m.Bytes))
	}
	// And a plain `oras push REF file.wasm`, which types the layer as a tar although it is the raw module.
	ref = reg.Host + "/interop/untyped:v1"
	run(dir, orasArgs("push", ref, "filter.wasm")...)
	if m, err = c.Pull(ctx(t), ref, oci.PullOptions{}); err != nil || !bytes.Equal(m.Bytes, wasm) {
		t.Errorf("pull of untyped oras push: %v", err)
	}
}

var noCredentials = auth.StaticCredential("", auth.Credential{})

// TestCorruptingRegistry puts a proxy in front of a real registry that flips one byte of every blob it serves:
// the pull must fail with ErrDigestMismatch, not hand out the altered module.
func TestCorruptingRegistry(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	wasm := registrytest.Module([]byte("corrupt me"))
	if _, err := clientFor(t, reg, nil).Push(ctx(t), reg.Host+"/corrupt/demo:v1", wasm, oci.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.Contains(resp.Request.URL.Path, "/blobs/") || resp.Request.Method != http.MethodGet {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if len(body) > 0 {
			body[len(body)-1] ^= 0xff
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	srv := httptest.NewServer(proxy)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	c, err := oci.NewClient(oci.Options{Default: oci.RegistryOptions{PlainHTTP: true}, Credential: noCredentials})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Pull(ctx(t), host+"/corrupt/demo:v1", oci.PullOptions{})
	if !errors.Is(err, oci.ErrDigestMismatch) {
		t.Fatalf("err = %v, want %v", err, oci.ErrDigestMismatch)
	}
}
