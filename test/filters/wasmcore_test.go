package filters

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

var coreBench = flag.Bool("core-bench", false, "build each filter's core benchmarks for wasip1, run them in wazero and natively, and print the Wasm/native ratio (slow)")

// TestCoreBenchmarksInWasm runs the filters' pure-Go core benchmarks twice: natively and as a GOOS=wasip1 test
// binary in wazero (the runtime the host uses). The ratio says what compiling to Wasm costs, apart from the ABI.
//
//	go test ./test/filters -run CoreBenchmarksInWasm -core-bench -v
func TestCoreBenchmarksInWasm(t *testing.T) {
	if !*coreBench {
		t.Skip("slow: run with -core-bench to measure the Wasm/native ratio of the filters' core benchmarks")
	}
	for _, pkg := range corePackages {
		t.Run(pkg, func(t *testing.T) {
			native := runNativeBench(t, pkg)
			wasm := runWasmBench(t, pkg)
			var names []string
			for n := range native {
				names = append(names, n)
			}
			sort.Strings(names)
			var sb strings.Builder
			fmt.Fprintf(&sb, "\n%-40s %14s %14s %7s\n", "benchmark", "native ns/op", "wasm ns/op", "ratio")
			for _, n := range names {
				w, ok := wasm[n]
				if !ok {
					continue
				}
				fmt.Fprintf(&sb, "%-40s %14.0f %14.0f %7.1f\n", n, native[n], w, w/native[n])
			}
			t.Log(sb.String())
		})
	}
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)

func parseBench(out []byte) map[string]float64 {
	res := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if m := benchLine.FindStringSubmatch(sc.Text()); m != nil {
			var v float64
			fmt.Sscan(m[2], &v)
			res[m[1]] = v
		}
	}
	return res
}

func goTool() string {
	if p := filepath.Join(runtimeGOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func runtimeGOROOT() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func runNativeBench(t *testing.T, pkg string) map[string]float64 {
	cmd := exec.Command(goTool(), "test", "-run", "^$", "-bench", ".", "-benchtime", "1s", "./"+pkg)
	cmd.Dir = filtersDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("native benchmarks of %s: %v\n%s", pkg, err, out)
	}
	return parseBench(out)
}

func runWasmBench(t *testing.T, pkg string) map[string]float64 {
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg)+".test.wasm")
	cmd := exec.Command(goTool(), "test", "-c", "-o", bin, "./"+pkg)
	cmd.Dir = filtersDir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s for wasip1: %v\n%s", pkg, err, out)
	}
	wasm, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	// The filter package directory is the guest's "/", so testdata/ and ../../samples resolve as they do natively.
	root, err := filepath.Abs(filepath.Join(filtersDir, ".."))
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName(filepath.Base(pkg)).
		WithArgs(pkg+".test", "-test.run=^$", "-test.bench=.", "-test.benchtime=1s").
		WithEnv("PWD", "/filters/"+pkg).WithEnv("GOGC", os.Getenv("WASM_GOGC")).
		WithFSConfig(wazero.NewFSConfig().WithDirMount(root, "/")).
		WithStdout(&stdout).WithStderr(&stdout).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader)
	if _, err := rt.InstantiateWithConfig(ctx, wasm, cfg); err != nil && !strings.Contains(err.Error(), "exit_code(0)") {
		t.Fatalf("run %s in wazero: %v\n%s", pkg, err, stdout.String())
	}
	return parseBench(stdout.Bytes())
}

// corePackages are the filters module packages whose benchmarks are compared.
var corePackages = []string{"auth", "ratelimit", "dubbo-routing", "internal/request", "internal/lru"}
