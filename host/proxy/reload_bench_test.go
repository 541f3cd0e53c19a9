package proxy

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkReloadRouteChange times a reload that changes only a route, with three Wasm filters of four VMs each:
// "pinned" modules (sha256) keep their instances, "unpinned" ones (a file:// URL alone) are built again, VMs
// started and configured, as every filter was before instances were kept. One op is one reload.
func BenchmarkReloadRouteChange(b *testing.B) {
	path, sha := tinygostyle(b)
	reg := wasmRegistry(b)
	for _, pin := range []string{"", sha} {
		name := map[bool]string{true: "pinned", false: "unpinned"}[pin != ""]
		b.Run(name, func(b *testing.B) {
			h := &harness{t: b}
			h.a = upstream(b, "a").Listener.Addr().String()
			config := func(i int) string {
				cfg := "listeners:\n- name: http\n  address: 127.0.0.1:0\n  filters:\n"
				for j := range 3 {
					cfg += fmt.Sprintf("  - {name: f%d, kind: wasm, module: {url: \"file://%s\", sha256: %q}, config: \"g%d\", options: {pool_size: 4, vm_id: v%d}}\n", j, path, pin, j, j)
				}
				return cfg + fmt.Sprintf(`  routes:
  - {name: default, match: {path: {prefix: /}}, cluster: a, request_headers: {set: {x-gen: "%d"}}}
clusters:
- {name: a, endpoints: [{address: "%s"}]}
`, i, h.a)
			}
			h = startProxy(b, reg, config(0))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				h.write(config(i + 1))
				b.StartTimer()
				if err := h.srv.Reload(context.Background(), "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
