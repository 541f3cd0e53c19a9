package dubbotest

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/wasmesh/wasmesh/host/dubbo/hessian"
)

// TestSkipHessianJSValues uses hessian.js 2.11.0, the serializer of the Node client, as a second oracle: every
// value it writes (typed maps, class definitions and references, chunked strings and binaries, dates, compact
// doubles) must be skipped to exactly its end.
func TestSkipHessianJSValues(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed: this test uses hessian.js as an oracle; install nodejs (apt-get install nodejs npm)")
	}
	cmd := exec.Command("node", filepath.Join("testdata", "hessianjs-values.js"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules(t))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hessian.js encoder: %v", err)
	}
	var values []string
	if err := json.Unmarshal(out, &values); err != nil {
		t.Fatalf("hessian.js printed %.200q: %v", out, err)
	}
	if len(values) < 40 {
		t.Fatalf("only %d values from hessian.js", len(values))
	}
	for i, h := range values {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		var sc hessian.Scanner
		end, err := sc.Skip(b, 0)
		if err != nil || end != len(b) {
			t.Errorf("value %d (%.40s...): skip ended at %d of %d: %v", i, h, end, len(b), err)
		}
	}
}
