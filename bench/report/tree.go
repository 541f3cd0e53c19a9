package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// exportTree writes the tree of commit rev of the repository at root into a new temporary directory (git archive,
// so the repository and its work tree are not touched) and builds bin/wasmesh there. Measuring a commit rather
// than the work tree keeps other people's unfinished edits out of a report. remove deletes the directory.
func exportTree(ctx context.Context, root, rev string) (dir, commit string, remove func(), err error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", rev+"^{commit}").Output()
	if err != nil {
		return "", "", nil, fmt.Errorf("-at %s: not a commit of %s: %w", rev, root, err)
	}
	commit = strings.TrimSpace(string(out))
	dir, err = os.MkdirTemp("", "wasmesh-bench-"+commit+"-")
	if err != nil {
		return "", "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	sh := fmt.Sprintf("git -C %s archive %s | tar -x -C %s", shellQuote(root), shellQuote(commit), shellQuote(dir))
	if out, err := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", sh).CombinedOutput(); err != nil {
		remove()
		return "", "", nil, fmt.Errorf("export %s: %w\n%s", commit, err, out)
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join("bin", "wasmesh"), "./cli/wasmesh")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		remove()
		return "", "", nil, fmt.Errorf("build wasmesh at %s: %w\n%s", commit, err, out)
	}
	return dir, commit, remove, nil
}
