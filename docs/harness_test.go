package docs

import (
	"os/exec"
	"strings"
	"testing"
)

func TestParseGuide(t *testing.T) {
	md := "# T\n\n<!-- doc-test: run -->\n```sh\necho hi\n```\n\ntext\n\n<!-- doc-test: file a.yaml -->\n\n```yaml\nk: v\n```\n\n```sh\nls\n```\n"
	blocks, err := parseGuide("t.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	want := []block{
		{File: "t.md", Line: 4, Kind: "run", Lang: "sh", Body: "echo hi\n", Marked: true},
		{File: "t.md", Line: 12, Kind: "file", Arg: "a.yaml", Lang: "yaml", Body: "k: v\n", Marked: true},
		{File: "t.md", Line: 16, Lang: "sh", Body: "ls\n"},
	}
	if len(blocks) != len(want) {
		t.Fatalf("blocks = %+v", blocks)
	}
	for i := range want {
		if blocks[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, blocks[i], want[i])
		}
	}
}

func TestParseGuideErrors(t *testing.T) {
	tests := []struct{ name, md, want string }{
		{"marker before text", "<!-- doc-test: run -->\ntext\n```sh\nx\n```\n", "not followed by a fenced block"},
		{"marker at the end", "<!-- doc-test: run -->\n", "at the end of the file"},
		{"file without name", "<!-- doc-test: file -->\n```\nx\n```\n", "needs a file name"},
		{"run with a name", "<!-- doc-test: run x -->\n```sh\nx\n```\n", "needs a file name"},
		{"unknown kind", "<!-- doc-test: maybe -->\n```sh\nx\n```\n", "malformed"},
		{"unclosed", "```sh\nx\n", "not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseGuide("t.md", []byte(tt.md))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSessionScript runs generated scripts: files are written, `# =>` checks pass and fail, other kinds are left out.
func TestSessionScript(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		blocks  []block
		wantErr string
	}{
		{"file then check", []block{
			{File: "g.md", Line: 1, Kind: "file", Arg: "f.txt", Body: "it's here\n"},
			{File: "g.md", Line: 5, Kind: "run", Body: "cat f.txt   # => it's here\necho two\n"},
		}, ""},
		{"expectation on its own line", []block{{File: "g.md", Line: 1, Kind: "run", Body: "echo 'a long line'\n# => a long line\n"}}, ""},
		{"wrong output", []block{{File: "g.md", Line: 9, Kind: "run", Body: "echo 200   # => 401\n"}}, "doc-test g.md:10: printed '200', the guide says 401"},
		{"failing command", []block{{File: "g.md", Line: 1, Kind: "run", Body: "false\necho not reached\n"}}, "exit status 1"},
		{"e2e left out", []block{{File: "g.md", Line: 1, Kind: "e2e", Body: "false\n"}, {Kind: "run", Body: "true\n"}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script, _ := sessionScript(tt.blocks, "run")
			cmd := exec.Command("bash", "-c", script)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("%v\n%s\n--- script ---\n%s", err, out, script)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error()+string(out), tt.wantErr)):
				t.Errorf("err = %v, output %q, want %q", err, out, tt.wantErr)
			}
		})
	}
}

func TestCheckWasmeshCommand(t *testing.T) {
	bin := wasmeshBin(t)
	tests := []struct {
		args    string
		wantErr string
	}{
		{"status auth -n default", ""},
		{"deploy oci://r/x:v1 --name x --selector app=a --dir=/tmp/d", ""},
		{"operator --dir d --plain-http-registry 127.0.0.1:5000", ""},
		{"statuss auth", "no such command"},
		{"status auth --namespaces x", "unknown flag --namespaces"},
	}
	for _, tt := range tests {
		err := checkWasmeshCommand(bin, strings.Fields(tt.args))
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

func TestCheckObjects(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"two objects", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b}\n", ""},
		{"wasmdeployment", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {url: oci://r/x:v1}\n", ""},
		{"misspelt field", "apiVersion: wasmesh.io/v1alpha1\nkind: WasmDeployment\nmetadata: {name: a}\nspec: {urll: oci://r/x:v1}\n", "urll"},
		{"no kind", "apiVersion: v1\nmetadata: {name: a}\n", "lacks"},
		{"empty", "---\n", "no objects"},
	}
	for _, tt := range tests {
		err := checkObjects([]byte(tt.in))
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
