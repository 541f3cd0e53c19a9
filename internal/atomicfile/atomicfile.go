// Package atomicfile writes files so that no reader, in any process, ever sees a partial one: the OCI cache, the
// CLI's outputs, the operator's stores, the proxy's xDS snapshot and the engine's loop-guarded copies all go
// through it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to path through a temp file in the same directory, fsynced and renamed over path, so a failed
// write leaves nothing behind. Temp files are named ".tmp-*". The directory must exist.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
