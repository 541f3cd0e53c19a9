package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// Env is what every suite gets: where the repository is, how long to measure, which binary to run.
type Env struct {
	Root    string
	Quick   bool
	Wasmesh string
	Log     *slog.Logger
}

// pick returns quick in quick mode and full otherwise.
func (e Env) pick(quick, full string) string {
	if e.Quick {
		return quick
	}
	return full
}

// command runs name args in dir (relative to the repository root) with extra environment variables, and returns
// its standard output and the command line as a user would type it from the root. Standard error goes to ours so
// that a long run shows progress.
func (e Env) command(ctx context.Context, dir string, extraEnv []string, name string, args ...string) ([]byte, string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = filepath.Join(e.Root, dir)
	cmd.Env = append(os.Environ(), extraEnv...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	line := e.display(extraEnv, name, args)
	if dir != "" && dir != "." {
		line = "cd " + dir + " && " + line
	}
	e.Log.Info("running", "command", line)
	err := cmd.Run()
	if err != nil {
		// go test prints a failing benchmark's reason on stdout; keep the tail for the report.
		tail := out.Bytes()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		err = fmt.Errorf("%s: %w\n%s", line, err, tail)
	}
	return out.Bytes(), line, err
}

// display is the command line as a user would type it from the repository root: shell-quoted, with paths under
// the root made relative.
func (e Env) display(extraEnv []string, name string, args []string) string {
	rel := func(w string) string {
		if r, ok := strings.CutPrefix(w, e.Root+string(filepath.Separator)); ok {
			return r
		}
		return w
	}
	var words []string
	for _, kv := range extraEnv {
		k, v, _ := strings.Cut(kv, "=")
		words = append(words, k+"="+shellQuote(rel(v)))
	}
	for _, w := range append([]string{name}, args...) {
		words = append(words, shellQuote(rel(w)))
	}
	return strings.Join(words, " ")
}

// shellQuote quotes w for a POSIX shell when it holds anything but plain word characters.
func shellQuote(w string) string {
	if w != "" && strings.Trim(w, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@") == "" {
		return w
	}
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// goBench runs `go test -run '^$' -bench ...` with args and parses its output.
func (e Env) goBench(ctx context.Context, sec *Section, dir string, extraEnv []string, args ...string) ([]Benchmark, error) {
	full := append([]string{"test", "-run", "^$", "-benchmem"}, args...)
	out, line, err := e.command(ctx, dir, extraEnv, "go", full...)
	sec.Commands = append(sec.Commands, line)
	bs, perr := parseGoBench(bytes.NewReader(out), dir)
	sec.Benchmarks = append(sec.Benchmarks, bs...)
	if err != nil {
		return bs, err
	}
	return bs, perr
}

// parseGoBench reads `go test -bench` output. Names lose the "Benchmark" prefix and the -GOMAXPROCS suffix; the
// package is its path in the repository (e.g. "host/engine", "filters/auth"). Values keep the units go test printed
// ("ns/op", "cpu-ns/op", "B/op"), which the write-ups in bench/*.md use too.
func parseGoBench(r io.Reader, fileName string) ([]Benchmark, error) {
	br := benchfmt.NewReader(r, fileName)
	var out []Benchmark
	var firstErr error
	for br.Scan() {
		switch rec := br.Result().(type) {
		case *benchfmt.Result:
			base, parts := rec.Name.Parts()
			name := string(base)
			for _, p := range parts {
				if !bytes.HasPrefix(p, []byte("-")) { // "-2" is the GOMAXPROCS suffix
					name += string(p)
				}
			}
			b := Benchmark{Package: shortPackage(rec.GetConfig("pkg")), Name: name, Iters: rec.Iters,
				Values: map[string]float64{}}
			for _, v := range rec.Values {
				if v.OrigUnit != "" {
					b.Values[v.OrigUnit] = v.OrigValue
				} else {
					b.Values[v.Unit] = v.Value
				}
			}
			out = append(out, b)
		case *benchfmt.SyntaxError:
			if firstErr == nil {
				firstErr = rec
			}
		}
	}
	if err := br.Err(); err != nil {
		return out, err
	}
	if len(out) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("no benchmark results: %w", firstErr)
		}
		return nil, fmt.Errorf("no benchmark results in the output")
	}
	return out, nil
}

// shortPackage strips the module path, so that both modules' packages read as repository paths.
func shortPackage(pkg string) string {
	for _, mod := range []string{"github.com/wasmesh/wasmesh/filters/", "github.com/wasmesh/wasmesh/"} {
		if rest, ok := strings.CutPrefix(pkg, mod); ok {
			if mod == "github.com/wasmesh/wasmesh/filters/" {
				return "filters/" + rest
			}
			return rest
		}
	}
	return pkg
}

// find returns the value in unit of the benchmark pkg name, or 0 when it was not measured.
func find(bs []Benchmark, pkg, name, unit string) float64 {
	for _, b := range bs {
		if b.Package == pkg && b.Name == name {
			return b.Values[unit]
		}
	}
	return 0
}
