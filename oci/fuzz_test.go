package oci

import (
	"errors"
	"testing"
)

// manifestSeeds are short manifests and indexes of each kind the selector meets.
var manifestSeeds = []struct {
	mediaType string
	body      string
}{
	{MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.module.wasm.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.module.wasm.content.layer.v1+wasm","digest":"sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476","size":8}]}`},
	{MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476","size":8},{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476","size":8}]}`},
	{MediaTypeOCIIndex, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476","size":8,"platform":{"os":"wasip1","architecture":"wasm"}}]}`},
	{"", `{"schemaVersion":2,"config":{"mediaType":"application/vnd.wasm.config.v0+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/wasm","digest":"sha256:93a44bbb96c751218e4c00d479e4c14358122a389acca16205b1e4d0dc5f9476","size":-1}]}`},
	{"application/vnd.docker.distribution.manifest.v1+prettyjws", `{"schemaVersion":1}`},
	{MediaTypeOCIManifest, `{"schemaVersion":2,"config":{},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:zz","size":1}]}`},
}

// FuzzParseManifest feeds untrusted manifest bytes through the parsing and selection a pull does: it must never
// panic, and whatever it selects must be a descriptor taken from the input with a valid digest.
func FuzzParseManifest(f *testing.F) {
	for _, s := range manifestSeeds {
		f.Add(s.mediaType, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, mediaType string, data []byte) {
		doc, err := parseManifest(mediaType, data)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedMediaType) {
				t.Fatalf("error without a shared cause: %v", err)
			}
			return
		}
		if isIndex(doc.MediaType) {
			d, err := selectPlatform(doc)
			if err == nil && d.Digest.Validate() != nil {
				t.Fatalf("selected invalid digest %q", d.Digest)
			}
			return
		}
		cands, err := selectLayers(doc)
		if err != nil && !errors.Is(err, ErrUnsupportedMediaType) {
			t.Fatalf("error without a shared cause: %v", err)
		}
		for _, c := range cands {
			if c.desc.Digest.Validate() != nil || c.desc.Size < 0 {
				t.Fatalf("selected invalid layer %+v", c.desc)
			}
		}
	})
}

// FuzzExtractPlugin feeds untrusted layer bytes (tar, gzip or anything) to the compat extraction.
func FuzzExtractPlugin(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add(make([]byte, 1024))
	f.Fuzz(func(t *testing.T, data []byte) {
		wasm, err := extractPlugin(data, 1<<20)
		if err == nil && (len(wasm) < 4 || string(wasm[:4]) != "\x00asm") {
			t.Fatalf("returned %d bytes that are not Wasm", len(wasm))
		}
		if err != nil && !errors.Is(err, ErrNoModule) && !errors.Is(err, ErrNotWasm) && !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error without a shared cause: %v", err)
		}
	})
}

func TestSelectPlatformPrefersWasip1(t *testing.T) {
	doc, err := parseManifest(MediaTypeOCIIndex, []byte(manifestSeeds[2].body))
	if err != nil {
		t.Fatal(err)
	}
	d, err := selectPlatform(doc)
	if err != nil || d.Platform.OS != "wasip1" {
		t.Fatalf("selected %+v, %v", d.Platform, err)
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		ok   bool
	}{{"", FormatIstio, true}, {"oci", FormatIstio, true}, {"CNCF", FormatWasm, true}, {"wasm", FormatWasm, true}, {"docker", "", false}}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseFormat(%q) = %q, %v", tt.in, got, err)
		}
	}
}
