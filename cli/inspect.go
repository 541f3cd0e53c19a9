package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wasmesh/wasmesh/host/inspect"
)

func newInspectCommand(s Streams) *cobra.Command {
	var jsonOut bool
	cmd := &cobra.Command{
		Use:   "inspect FILE.wasm|REF",
		Short: "Describe a proxy-wasm module: ABI version, imports, callbacks, entry point, allocator, SDK",
		Long: `Describe a proxy-wasm module from a local file, or from an OCI registry reference
(registry/repository:tag or @sha256:digest), without running it.`,
		Example: `  wasmesh inspect bin/filters/auth.wasm
  wasmesh inspect --json bin/filters/auth.wasm`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if st, err := os.Stat(args[0]); err == nil && !st.IsDir() {
				m, err := inspect.File(args[0])
				if err != nil {
					return err
				}
				return printModule(s.Out, m, jsonOut)
			}
			return inspectRef(cmd, s, args[0], jsonOut)
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print as JSON")
	addRegistryFlags(cmd.Flags()) // for REF: --plain-http, --insecure, --ca-file (cli/oci_flags.go)
	return cmd
}

// printModule writes the module facts as a readable block, or as JSON.
func printModule(w io.Writer, m *inspect.Module, jsonOut bool) error {
	if jsonOut {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(m)
	}
	var b strings.Builder
	row := func(k, v string) { fmt.Fprintf(&b, "%-12s %s\n", k, v) }
	if m.Path != "" {
		row("file", m.Path)
	}
	row("size", fmt.Sprintf("%d bytes", m.Size))
	row("sha256", m.SHA256)
	row("abi", orNone(string(m.ABIVersion)))
	row("entry point", orNone(m.EntryPoint))
	row("allocator", orNone(m.Allocator))
	row("language", orUnknown(m.Language))
	row("sdk", orUnknown(m.SDK))
	row("callbacks", fmt.Sprintf("%d", len(m.Callbacks)))
	for _, c := range m.Callbacks {
		fmt.Fprintf(&b, "  %s\n", c)
	}
	mods := make([]string, 0, len(m.Imports))
	for mod := range m.Imports {
		mods = append(mods, mod)
	}
	sort.Strings(mods)
	row("imports", fmt.Sprintf("%d modules", len(mods)))
	for _, mod := range mods {
		fmt.Fprintf(&b, "  %s (%d): %s\n", mod, len(m.Imports[mod]), strings.Join(m.Imports[mod], ", "))
	}
	if err := m.Validate(); err != nil {
		row("status", err.Error())
	} else {
		row("status", "valid proxy-wasm module")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
