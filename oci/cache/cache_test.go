package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/opencontainers/go-digest"
	"github.com/wasmesh/wasmesh/oci"
	"github.com/wasmesh/wasmesh/oci/registrytest"
)

// counting wraps the real client to count network operations.
type counting struct {
	Source
	resolves, pulls atomic.Int64
}

func (c *counting) Resolve(ctx context.Context, ref string) (oci.Reference, ocispec.Descriptor, error) {
	c.resolves.Add(1)
	return c.Source.Resolve(ctx, ref)
}

func (c *counting) Pull(ctx context.Context, ref string, opts oci.PullOptions) (*oci.Module, error) {
	c.pulls.Add(1)
	return c.Source.Pull(ctx, ref, opts)
}

func client(t testing.TB, reg *registrytest.Registry) *oci.Client {
	t.Helper()
	c, err := oci.NewClient(oci.Options{
		Default:    oci.RegistryOptions{PlainHTTP: true},
		Credential: auth.StaticCredential(reg.Host, auth.Credential{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func push(t testing.TB, c *oci.Client, ref string, wasm []byte) digest.Digest {
	t.Helper()
	// A fixed creation time makes pushes reproducible: the same module gives the same manifest digest.
	d, err := c.Push(context.Background(), ref, wasm, oci.PushOptions{Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

func TestPolicies(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	ref := reg.Host + "/cache/policy:v1"
	v1, v2 := registrytest.Module([]byte("v1")), registrytest.Module([]byte("v2"))
	m1 := push(t, oc, ref, v1)
	src := &counting{Source: oc}
	c, err := Open(Options{Dir: t.TempDir(), TTL: time.Minute}, src)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.now = func() time.Time { return now }
	ctx := context.Background()

	get := func(ref string, req Request, want []byte, wantResolves, wantPulls int64) Entry {
		t.Helper()
		src.resolves.Store(0)
		src.pulls.Store(0)
		e, err := c.Get(ctx, ref, req)
		if err != nil {
			t.Fatalf("get %s: %v", ref, err)
		}
		got, err := e.ReadFile()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("get %s: read %d bytes, %v", ref, len(got), err)
		}
		if r, p := src.resolves.Load(), src.pulls.Load(); r != wantResolves || p != wantPulls {
			t.Fatalf("get %s policy %d: %d resolves %d pulls, want %d %d", ref, req.Policy, r, p, wantResolves, wantPulls)
		}
		return e
	}
	e := get(ref, Request{}, v1, 1, 1)
	if !e.Fetched || e.ManifestDigest != m1 {
		t.Errorf("first get: %+v", e)
	}
	e = get(ref, Request{}, v1, 0, 0) // IfNotPresent within TTL: no network
	if !e.Hit {
		t.Errorf("second get not a hit: %+v", e)
	}
	get(ref, Request{Policy: Always}, v1, 1, 0) // Always: resolve, same digest, no fetch
	get(reg.Host+"/cache/policy@"+m1.String(), Request{Policy: Always}, v1, 0, 0)

	m2 := push(t, oc, ref, v2)
	get(ref, Request{}, v1, 0, 0)               // tag moved, but IfNotPresent trusts the index for TTL
	get(ref, Request{Policy: Always}, v2, 1, 1) // Always notices
	now = now.Add(2 * time.Minute)              // TTL passes
	push(t, oc, ref, v1)                        // tag moves back
	get(ref, Request{}, v1, 1, 0)               // re-resolved, v1 is still cached: no fetch
	if _, err := c.Get(ctx, ref+"@"+m2.String(), Request{Policy: Always}); !errors.Is(err, oci.ErrTagMoved) {
		t.Errorf("tag@digest after the tag moved: %v", err)
	}
}

// TestRepushReusesBlob: the same module under a new manifest (another created time) is a new digest, resolved
// and pulled, but the module bytes come from disk, not the network.
func TestRepushReusesBlob(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	ref := reg.Host + "/cache/repush:v1"
	wasm := registrytest.Module([]byte("repush"))
	push(t, oc, ref, wasm)
	c, err := Open(Options{Dir: t.TempDir()}, oc)
	if err != nil {
		t.Fatal(err)
	}
	var downloaded int64
	req := Request{Policy: Always, Progress: func(done, _ int64) { downloaded = done }}
	first, err := c.Get(context.Background(), ref, req)
	if err != nil || downloaded != int64(len(wasm)) {
		t.Fatalf("first get: downloaded %d, %v", downloaded, err)
	}
	if _, err := oc.Push(context.Background(), ref, wasm, oci.PushOptions{Created: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	downloaded = 0
	second, err := c.Get(context.Background(), ref, req)
	if err != nil {
		t.Fatal(err)
	}
	if second.ManifestDigest == first.ManifestDigest || second.ModuleDigest != first.ModuleDigest || !second.Fetched {
		t.Errorf("second get: %+v", second)
	}
	if downloaded != 0 {
		t.Errorf("module downloaded again (%d bytes) although it was on disk", downloaded)
	}
}

func TestErrorsLeaveNothing(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	ref := reg.Host + "/cache/pin:v1"
	wasm := registrytest.Module([]byte("pin"))
	push(t, oc, ref, wasm)
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir}, oc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Get(ctx, ref, Request{SHA256: strings.Repeat("0", 64)}); !errors.Is(err, oci.ErrDigestMismatch) {
		t.Fatalf("pin mismatch: %v", err)
	}
	if _, err := c.Get(ctx, reg.Host+"/cache/absent:v1", Request{}); !errors.Is(err, oci.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := c.Get(ctx, ref, Request{SHA256: digest.FromBytes(wasm).Encoded()}); err != nil {
		t.Fatalf("right pin: %v", err)
	}
	assertNoTemp(t, dir)
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
}

func TestEviction(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	dir := t.TempDir()
	c, err := Open(Options{Dir: dir, MaxBytes: 2500, Grace: time.Nanosecond}, oc)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Hour)
	c.now = func() time.Time { now = now.Add(time.Second); return now }
	ctx := context.Background()
	var entries []Entry
	for i := range 3 {
		ref := fmt.Sprintf("%s/cache/evict:v%d", reg.Host, i)
		push(t, oc, ref, registrytest.Module(bytes.Repeat([]byte{byte(i)}, 1000)))
		e, err := c.Get(ctx, ref, Request{})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
		if i == 1 { // use v0 again: v1 becomes the least recently used
			if _, err := c.Get(ctx, reg.Host+"/cache/evict:v0", Request{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, want := range []bool{true, false, true} {
		_, err := os.Stat(entries[i].Path)
		if (err == nil) != want {
			t.Errorf("v%d present=%v, want %v", i, err == nil, want)
		}
	}
	e, err := c.Get(ctx, reg.Host+"/cache/evict:v1", Request{})
	if err != nil || !e.Fetched {
		t.Errorf("evicted entry not fetched again: %+v %v", e, err)
	}
}

// TestConcurrentCaches runs two independent Cache values on one directory, each with several goroutines pulling
// the same tag: every caller gets the whole module and each Cache fetches at most once.
func TestConcurrentCaches(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	ref := reg.Host + "/cache/shared:v1"
	wasm := registrytest.Module(bytes.Repeat([]byte("shared"), 100_000))
	push(t, oc, ref, wasm)
	dir := t.TempDir()
	var caches []*Cache
	for range 2 {
		c, err := Open(Options{Dir: dir}, client(t, reg))
		if err != nil {
			t.Fatal(err)
		}
		caches = append(caches, c)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := caches[i%2].Get(context.Background(), ref, Request{Policy: Always})
			if err != nil {
				t.Error(err)
				return
			}
			if got, err := e.ReadFile(); err != nil || !bytes.Equal(got, wasm) {
				t.Errorf("read %d bytes: %v", len(got), err)
			}
		}()
	}
	wg.Wait()
	var total int64
	for i, c := range caches {
		f := c.Stats().Fetches
		total += f
		if f > 1 {
			t.Errorf("cache %d fetched %d times", i, f)
		}
	}
	if total < 1 {
		t.Errorf("nothing fetched")
	}
	assertNoTemp(t, dir)
}

// TestConcurrentProcesses pulls one tag from two processes (this test binary re-executed) into one directory.
func TestConcurrentProcesses(t *testing.T) {
	if dir := os.Getenv("WASMESH_CACHE_CHILD_DIR"); dir != "" {
		c, err := Open(Options{Dir: dir}, mustClientFromEnv(t))
		if err != nil {
			t.Fatal(err)
		}
		e, err := c.Get(context.Background(), os.Getenv("WASMESH_CACHE_CHILD_REF"), Request{Policy: Always})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("module=%s fetches=%d\n", e.ModuleDigest, c.Stats().Fetches)
		return
	}
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	ref := reg.Host + "/cache/procs:v1"
	wasm := registrytest.Module(bytes.Repeat([]byte("procs"), 200_000))
	push(t, oc, ref, wasm)
	dir := t.TempDir()
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentProcesses$", "-test.count=1")
			cmd.Env = append(os.Environ(), "WASMESH_CACHE_CHILD_DIR="+dir, "WASMESH_CACHE_CHILD_REF="+ref, "WASMESH_CACHE_CHILD_HOST="+reg.Host)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("child %d: %v\n%s", i, err, out)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	want := "module=" + digest.FromBytes(wasm).String()
	for i, out := range outs {
		if !strings.Contains(string(out), want) {
			t.Errorf("child %d output %q lacks %s", i, out, want)
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", digest.FromBytes(wasm).Encoded()))
	if err != nil || !bytes.Equal(got, wasm) {
		t.Errorf("cached blob: %d bytes, %v", len(got), err)
	}
	assertNoTemp(t, dir)
}

func mustClientFromEnv(t *testing.T) *oci.Client {
	c, err := oci.NewClient(oci.Options{
		Default:    oci.RegistryOptions{PlainHTTP: true},
		Credential: auth.StaticCredential(os.Getenv("WASMESH_CACHE_CHILD_HOST"), auth.Credential{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": IfNotPresent, "IfNotPresent": IfNotPresent, "Always": Always} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePolicy("Never"); err == nil {
		t.Error("ParsePolicy(Never) accepted")
	}
}

func TestURLSource(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Config{})
	oc := client(t, reg)
	wasm := registrytest.Module([]byte("url source"))
	push(t, oc, reg.Host+"/cache/url:v1", wasm)
	c, err := Open(Options{Dir: t.TempDir()}, oc)
	if err != nil {
		t.Fatal(err)
	}
	src := URLSource{Cache: c}
	got, err := src.Fetch(context.Background(), "oci://"+reg.Host+"/cache/url:v1")
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("Fetch: %d bytes, %v", len(got), err)
	}
	if _, err := src.Fetch(context.Background(), "https://"+reg.Host+"/cache/url:v1"); err == nil {
		t.Error("non-oci URL accepted")
	}
}

// TestPutBlob: modules stored by digest (the proxy's pinned http(s) modules) are verified on the way in and
// out, and share the blobs' size bound: the least recently used one goes first.
func TestPutBlob(t *testing.T) {
	c, err := Open(Options{Dir: t.TempDir(), MaxBytes: 2500, Grace: time.Nanosecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(-time.Hour)
	c.now = func() time.Time { now = now.Add(time.Second); return now }
	mod := func(i byte) []byte { return registrytest.Module(bytes.Repeat([]byte{i}, 1000)) }

	for _, tc := range []struct {
		name    string
		d       digest.Digest
		b       []byte
		wantErr error // nil: stored
	}{
		{"bytes of another digest", digest.FromBytes(mod(9)), mod(8), oci.ErrDigestMismatch},
		{"invalid digest", "sha256:xyz", mod(8), digest.ErrDigestInvalidLength},
		{"module 0", digest.FromBytes(mod(0)), mod(0), nil},
		{"module 1", digest.FromBytes(mod(1)), mod(1), nil},
	} {
		err := c.PutBlob(tc.d, tc.b)
		if !errors.Is(err, tc.wantErr) {
			t.Fatalf("%s: PutBlob = %v, want %v", tc.name, err, tc.wantErr)
		}
		if _, ok := c.Blob(tc.d); ok != (tc.wantErr == nil) {
			t.Errorf("%s: Blob found=%v after PutBlob %v", tc.name, ok, err)
		}
	}
	if _, ok := c.Blob(digest.FromBytes(mod(0))); !ok { // 0 used again: 1 is now the least recently used
		t.Fatal("module 0 gone")
	}
	if err := c.PutBlob(digest.FromBytes(mod(2)), mod(2)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true} {
		if _, ok := c.Blob(digest.FromBytes(mod(byte(i)))); ok != want {
			t.Errorf("module %d present=%v, want %v (2500 bytes hold two)", i, ok, want)
		}
	}
}
