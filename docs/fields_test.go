package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/operator/api/v1alpha1"
)

// TestEveryFieldDocumented walks proxy.yaml's and WasmDeployment's Go types and wants every field's name written
// as code (`name`) in the reference pages, so a new field cannot ship undocumented.
func TestEveryFieldDocumented(t *testing.T) {
	tests := []struct {
		what  string
		typ   reflect.Type
		pages []string
	}{
		{"proxy.yaml", reflect.TypeFor[config.File](), []string{"proxy.md", "config-reference.md"}},
		{"WasmDeployment spec", reflect.TypeFor[v1alpha1.WasmDeploymentSpec](), []string{"wasmdeployment.md", "config-reference.md"}},
		{"WasmDeployment status", reflect.TypeFor[v1alpha1.WasmDeploymentStatus](), []string{"wasmdeployment.md", "config-reference.md"}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			var code strings.Builder
			for _, p := range tt.pages {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				code.WriteString(codeText(string(b)))
			}
			words := map[string]bool{}
			for _, w := range regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`).FindAllString(code.String(), -1) {
				words[w] = true
			}
			fields := jsonFields(tt.typ, "", map[reflect.Type]bool{})
			if len(fields) < 10 {
				t.Fatalf("only %d fields found in %s: the walk is broken", len(fields), tt.typ)
			}
			for _, f := range fields {
				if last := f[strings.LastIndex(f, ".")+1:]; !words[last] {
					t.Errorf("%s field %s is not documented in %s (name it in code: `%s`)", tt.what, f, strings.Join(tt.pages, " or "), last)
				}
			}
		})
	}
}

// codeText is what a page shows as code: `spans` and fenced blocks, where field names are written.
func codeText(md string) string {
	var sb strings.Builder
	for i, part := range strings.Split(md, "```") {
		if i%2 == 1 { // inside a fenced block
			sb.WriteString(part)
			sb.WriteByte('\n')
			continue
		}
		for j, span := range strings.Split(part, "`") {
			if j%2 == 1 {
				sb.WriteString(span)
				sb.WriteByte('\n')
			}
		}
	}
	return sb.String()
}

// jsonFields lists the JSON field paths of t's structs, descending into the types of this repository only.
func jsonFields(t reflect.Type, prefix string, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || seen[t] || !strings.HasPrefix(t.PkgPath(), "github.com/wasmesh/wasmesh/") {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" { // inline
			out = append(out, jsonFields(f.Type, prefix, seen)...)
			continue
		}
		out = append(out, prefix+name)
		out = append(out, jsonFields(f.Type, prefix+name+".", seen)...)
	}
	return out
}

// TestMetricsDocumented wants every Prometheus metric the proxy and the operator register named in operations.md.
func TestMetricsDocumented(t *testing.T) {
	page, err := os.ReadFile("operations.md")
	if err != nil {
		t.Fatal(err)
	}
	nameRE := regexp.MustCompile(`"(wasmesh_[a-z_]+)"`)
	found := 0
	for _, dir := range []string{"../host", "../operator", "../cli"} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil || !strings.Contains(string(src), "github.com/prometheus/client_golang") {
				return err
			}
			for _, m := range nameRE.FindAllStringSubmatch(string(src), -1) {
				found++
				if !strings.Contains(string(page), "`"+m[1]) {
					t.Errorf("metric %s (%s) is not documented in operations.md", m[1], path)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found < 10 {
		t.Fatalf("only %d metric names found in the code: the scan is broken", found)
	}
}
