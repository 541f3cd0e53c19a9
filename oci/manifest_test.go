package oci

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata/")

// TestBuildManifestGolden pins the exact manifests Push writes for each format.
func TestBuildManifestGolden(t *testing.T) {
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, f := range []Format{FormatIstio, FormatWasm} {
		t.Run(string(f), func(t *testing.T) {
			built, err := buildManifest(wasm, PushOptions{
				Format:      f,
				Created:     created,
				Annotations: map[string]string{AnnotationABIVersion: "0.2.1", AnnotationSDK: "proxy-wasm-go-sdk"},
			})
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, built.raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "manifest-"+string(f)+".json")
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("manifest differs from %s:\n%s", golden, pretty.Bytes())
			}
			doc, err := parseManifest(MediaTypeOCIManifest, built.raw)
			if err != nil {
				t.Fatal(err)
			}
			cands, err := selectLayers(doc)
			if err != nil || cands[0].desc.Digest != built.module.Digest {
				t.Errorf("our own manifest does not select its module: %v", err)
			}
		})
	}
}
