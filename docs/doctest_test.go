package docs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// guides are the tested guides; their shell blocks must all carry a doc-test marker.
var guides = []string{"getting-started.md", "writing-a-filter.md", "config-reference.md", "operations.md", "architecture.md"}

// block is one fenced block of a guide with the marker before it.
type block struct {
	File   string
	Line   int    // of the opening fence
	Kind   string // run, e2e, cluster, file, or "" (no marker)
	Arg    string // the file name for kind file
	Lang   string
	Body   string
	Marked bool
}

var markerRE = regexp.MustCompile(`^<!--\s*doc-test:\s*(run|e2e|cluster|file)(?:\s+(\S+))?\s*-->$`)

// parseGuide splits Markdown into fenced blocks. A marker applies to the fence on the next non-blank line.
func parseGuide(name string, md []byte) ([]block, error) {
	var blocks []block
	var pending *block
	var cur *block
	var body strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if trimmed == "```" {
				cur.Body = body.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			body.WriteString(line)
			body.WriteByte('\n')
			continue
		}
		if m := markerRE.FindStringSubmatch(trimmed); m != nil {
			if pending != nil {
				return nil, fmt.Errorf("%s:%d: doc-test marker not followed by a fenced block", name, pending.Line)
			}
			if (m[1] == "file") != (m[2] != "") {
				return nil, fmt.Errorf("%s:%d: `doc-test: file` needs a file name, the other markers none", name, n)
			}
			pending = &block{File: name, Line: n, Kind: m[1], Arg: m[2], Marked: true}
			continue
		}
		if strings.HasPrefix(trimmed, "<!--") && strings.Contains(trimmed, "doc-test") {
			return nil, fmt.Errorf("%s:%d: malformed doc-test marker %q", name, n, trimmed)
		}
		if lang, ok := strings.CutPrefix(trimmed, "```"); ok {
			b := block{File: name, Line: n, Lang: strings.TrimSpace(lang)}
			if pending != nil {
				b.Kind, b.Arg, b.Marked = pending.Kind, pending.Arg, true
				pending = nil
			}
			cur = &b
			body.Reset()
			continue
		}
		if pending != nil && trimmed != "" {
			return nil, fmt.Errorf("%s:%d: doc-test marker not followed by a fenced block", name, pending.Line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: fenced block not closed", name, cur.Line)
	}
	if pending != nil {
		return nil, fmt.Errorf("%s:%d: doc-test marker at the end of the file", name, pending.Line)
	}
	return blocks, nil
}

func isShell(lang string) bool { return lang == "sh" || lang == "bash" || lang == "shell" }

// expectRE is a command line whose output the guide states: `cmd   # => text`.
var expectRE = regexp.MustCompile(`^(.*\S)\s+# => (.*)$`)

// sessionScript turns a guide's blocks of the wanted kinds into one bash script. Each `# => TEXT` line becomes a
// check of that command's output; the script reports the guide line of a failure.
func sessionScript(blocks []block, kinds ...string) (string, int) {
	var sb strings.Builder
	sb.WriteString("set -euo pipefail\ntrap 'echo \"doc-test: failed: $BASH_COMMAND\" >&2' ERR\n")
	ran := 0
	for _, b := range blocks {
		switch {
		case b.Kind == "file":
			fmt.Fprintf(&sb, "cat > %s <<'DOCTEST_EOF'\n%sDOCTEST_EOF\n", shellQuote(b.Arg), b.Body)
		case slices.Contains(kinds, b.Kind):
			ran++
			lines := strings.Split(strings.TrimRight(b.Body, "\n"), "\n")
			// A `# => TEXT` line of its own states the output of the command line above it.
			for i := 1; i < len(lines); i++ {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "# => "); ok && !strings.HasSuffix(lines[i-1], "\\") {
					lines[i-1] += "   # => " + rest
					lines[i] = ""
				}
			}
			for i, l := range lines {
				at := fmt.Sprintf("%s:%d", b.File, b.Line+1+i)
				m := expectRE.FindStringSubmatch(l)
				if m == nil || strings.HasSuffix(m[1], "\\") {
					sb.WriteString(l + "\n")
					continue
				}
				fmt.Fprintf(&sb, "__got=$(%s)\nprintf '%%s\\n' \"$__got\"\n", m[1])
				fmt.Fprintf(&sb, "if [ \"$__got\" != %s ]; then echo \"doc-test %s: printed '$__got', the guide says %s\" >&2; exit 1; fi\n",
					shellQuote(m[2]), at, dquoteEscape(m[2]))
			}
		}
	}
	return sb.String(), ran
}

// dquoteEscape makes s literal inside a double-quoted shell string.
func dquoteEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(s)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// repoRoot is the repository root (this package is docs/).
func repoRoot(t testing.TB) string {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// wasmeshBin builds the wasmesh command once per test binary, into a directory put first on the guides' PATH.
// WASMESH_BIN uses a prebuilt binary instead (e.g. bin/wasmesh after `make build`).
func wasmeshBin(t testing.TB) string {
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "wasmesh-doctest-bin-")
		if buildErr != nil {
			return
		}
		if prebuilt := os.Getenv("WASMESH_BIN"); prebuilt != "" {
			data, err := os.ReadFile(prebuilt)
			if err != nil {
				buildErr = fmt.Errorf("WASMESH_BIN: %w", err)
				return
			}
			buildErr = os.WriteFile(filepath.Join(binDir, "wasmesh"), data, 0o755)
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "wasmesh"), "./cli/wasmesh")
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cli/wasmesh: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "wasmesh")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func readGuide(t *testing.T, name string) []block {
	t.Helper()
	md, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseGuide(name, md)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if isShell(b.Lang) && !b.Marked {
			t.Errorf("%s:%d: shell block without a doc-test marker (run, e2e or cluster); every command in the guides is tested", b.File, b.Line)
		}
		if b.Marked && b.Kind != "file" && !isShell(b.Lang) {
			t.Errorf("%s:%d: doc-test %s marks a %q block; commands go in ```sh blocks", b.File, b.Line, b.Kind, b.Lang)
		}
	}
	return blocks
}

// runSession runs the guide's blocks of the given kinds in one bash session and kills what it left running.
func runSession(t *testing.T, name string, blocks []block, timeout time.Duration, kinds ...string) {
	script, n := sessionScript(blocks, kinds...)
	if n == 0 {
		return
	}
	bin := wasmeshBin(t)
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A file, not a pipe: a background process the guide started keeps its copy of stdout open, and Wait would
	// wait for a pipe to close.
	outFile, err := os.Create(filepath.Join(tmp, "session.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	err = cmd.Run()
	// Whatever the guide started in the background (a proxy, a registry) goes with its session.
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	out, _ := os.ReadFile(outFile.Name())
	if err != nil {
		t.Fatalf("%s: %d blocks (%s) failed: %v\n--- output ---\n%s", name, n, strings.Join(kinds, ", "), err, out)
	}
	t.Logf("%s: %d blocks ran\n%s", name, n, out)
}

// TestGuides runs every `run` block of every guide, and checks every `cluster` block.
func TestGuides(t *testing.T) {
	for _, name := range guides {
		t.Run(name, func(t *testing.T) {
			blocks := readGuide(t, name)
			for _, b := range blocks {
				if b.Kind == "cluster" {
					checkClusterBlock(t, b)
				}
			}
			runSession(t, name, blocks, 5*time.Minute, "run")
		})
	}
}

// checkClusterBlock checks, without a cluster, what a cluster-only block says: wasmesh subcommands and flags exist,
// kustomizations render, applied files are Kubernetes objects.
func checkClusterBlock(t *testing.T, b block) {
	t.Helper()
	for i, line := range strings.Split(b.Body, "\n") {
		at := fmt.Sprintf("%s:%d", b.File, b.Line+1+i)
		line, _, _ = strings.Cut(line, " #")
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "wasmesh":
			if err := checkWasmeshCommand(wasmeshBin(t), words[1:]); err != nil {
				t.Errorf("%s: %v", at, err)
			}
		case "kubectl":
			if err := checkKubectl(repoRoot(t), words[1:]); err != nil {
				t.Errorf("%s: %v", at, err)
			}
		default:
			t.Errorf("%s: a cluster block holds wasmesh and kubectl commands only; %q cannot be checked", at, words[0])
		}
	}
}

var flagRE = regexp.MustCompile(`^\s+(?:-(\w), )?--([\w-]+)`)

// checkWasmeshCommand walks args down the cobra command tree (`wasmesh CMD --help`) and checks every flag against
// the help of the command reached.
func checkWasmeshCommand(bin string, args []string) error {
	path := []string{}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		sub := append(slices.Clone(path), a)
		if !hasSubcommand(bin, path, a) {
			break
		}
		path = sub
	}
	if len(path) == 0 {
		return fmt.Errorf("wasmesh %s: no such command", strings.Join(args, " "))
	}
	help, err := exec.Command(bin, append(slices.Clone(path), "--help")...).Output()
	if err != nil {
		return fmt.Errorf("wasmesh %s --help: %w", strings.Join(path, " "), err)
	}
	flags := map[string]bool{}
	for _, l := range strings.Split(string(help), "\n") {
		if m := flagRE.FindStringSubmatch(l); m != nil {
			flags["--"+m[2]] = true
			if m[1] != "" {
				flags["-"+m[1]] = true
			}
		}
	}
	for _, a := range args[len(path):] {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, _ := strings.Cut(a, "=")
		if !flags[name] {
			return fmt.Errorf("wasmesh %s: unknown flag %s", strings.Join(path, " "), name)
		}
	}
	return nil
}

func hasSubcommand(bin string, path []string, name string) bool {
	help, err := exec.Command(bin, append(slices.Clone(path), "--help")...).Output()
	if err != nil {
		return false
	}
	_, cmds, ok := strings.Cut(string(help), "Available Commands:")
	if !ok {
		return false
	}
	cmds, _, _ = strings.Cut(cmds, "\n\n")
	for _, l := range strings.Split(cmds, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

// checkKubectl renders `apply -k DIR` with `kubectl kustomize` and parses the files of `apply -f FILE`; other
// kubectl commands are checked for a known verb.
func checkKubectl(root string, args []string) error {
	var verb string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-n" || a == "--namespace" || a == "--context":
			i++
		case strings.HasPrefix(a, "-"):
		case verb == "":
			verb = a
		}
	}
	if verb == "" {
		return fmt.Errorf("kubectl %s: no verb", strings.Join(args, " "))
	}
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		return fmt.Errorf("kubectl is not installed; install it to check the guides' cluster commands: %w", err)
	}
	if out, err := exec.Command(kubectl, verb, "--help").CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl %s: unknown verb: %v\n%s", verb, err, out)
	}
	for i, a := range args {
		if i+1 >= len(args) {
			break
		}
		switch a {
		case "-k":
			cmd := exec.Command(kubectl, "kustomize", args[i+1])
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("kubectl kustomize %s: %v\n%s", args[i+1], err, out)
			}
			if err := checkObjects(out); err != nil {
				return fmt.Errorf("kubectl kustomize %s: %w", args[i+1], err)
			}
		case "-f":
			data, err := os.ReadFile(filepath.Join(root, args[i+1]))
			if err != nil {
				return err
			}
			if err := checkObjects(data); err != nil {
				return fmt.Errorf("%s: %w", args[i+1], err)
			}
		}
	}
	return nil
}

// checkObjects parses a multi-document YAML stream and wants apiVersion, kind and metadata.name in each;
// WasmDeployments must decode strictly into the API types.
func checkObjects(data []byte) error {
	n := 0
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return err
		}
		if obj.APIVersion == "" || obj.Kind == "" || obj.Metadata.Name == "" {
			return fmt.Errorf("object %d lacks apiVersion, kind or metadata.name", n+1)
		}
		if obj.Kind == "WasmDeployment" { // ours: every field must be one the API knows
			var wd v1alpha1.WasmDeployment
			if err := yaml.UnmarshalStrict([]byte(doc), &wd); err != nil {
				return fmt.Errorf("WasmDeployment %s: %w", obj.Metadata.Name, err)
			}
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no objects")
	}
	return nil
}

// TestInlineCommands checks the commands written inline in the guides' prose (`wasmesh status NAME`, `kubectl
// annotate ...`) the way cluster blocks are checked: they are not run, but their subcommands and flags must exist.
func TestInlineCommands(t *testing.T) {
	span := regexp.MustCompile("`((?:bin/)?wasmesh [^`]+|kubectl [^`]+)`")
	for _, name := range guides {
		md, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for i, part := range strings.Split(string(md), "```") {
			if i%2 == 1 {
				continue // fenced blocks are checked by TestGuides
			}
			for _, m := range span.FindAllStringSubmatch(part, -1) {
				words := strings.Fields(strings.TrimPrefix(m[1], "bin/"))
				if len(words) > 1 && words[1] == strings.ToUpper(words[1]) && !strings.HasPrefix(words[1], "-") {
					continue // `wasmesh COMMAND --help`: a placeholder for any command
				}
				var err error
				if words[0] == "wasmesh" {
					err = checkWasmeshCommand(wasmeshBin(t), words[1:])
				} else {
					err = checkKubectl(repoRoot(t), words[1:])
				}
				if err != nil {
					t.Errorf("%s: `%s`: %v", name, m[1], err)
				}
			}
		}
	}
}
