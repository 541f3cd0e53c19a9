package engine

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/wasmesh/wasmesh/host/engine/loopguard"
	"github.com/wasmesh/wasmesh/internal/atomicfile"
)

// guardedCopy returns wasm instrumented by loopguard. With Config.CacheDir set, the instrumented bytes are kept
// there under the digest of the original, so a restart does not rewrite a module it has seen (about 10 ms for a
// 2.3 MB Go module, a quarter of a cache-warm load). The file name carries loopguard.Version, so a changed rewrite
// never reads an old copy, and files are written atomically (internal/atomicfile), so a crash never leaves half a
// file. cached reports a copy read from disk (Compile rewrites again if it does not compile).
func (e *Engine) guardedCopy(wasm []byte, digest string) (guarded []byte, cached bool, err error) {
	path := e.guardPath(digest)
	if path != "" {
		if b, err := os.ReadFile(path); err == nil && len(b) >= 8 {
			return b, true, nil
		}
	}
	guarded, err = loopguard.Instrument(wasm)
	if err != nil || path == "" {
		return guarded, false, err
	}
	if err := keep(path, guarded); err != nil {
		e.log.Debug("cannot keep the loop-guarded copy of a module; it is rewritten on every start", "path", path, "err", err)
	}
	return guarded, false, nil
}

// guardPath is where the loop-guarded copy of the module with digest ("sha256:<hex>") is kept, or "" without a
// cache directory.
func (e *Engine) guardPath(digest string) string {
	if e.cfg.CacheDir == "" {
		return ""
	}
	name := "v" + loopguard.Version + "-" + strings.TrimPrefix(digest, "sha256:") + ".wasm"
	return filepath.Join(e.cfg.CacheDir, "loopguard", name)
}

func keep(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}
