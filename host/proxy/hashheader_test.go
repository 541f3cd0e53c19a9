package proxy

import (
	"fmt"
	"net/http"
	"testing"
)

// TestHashHeaderThroughProxy: a ring_hash cluster with hash_header sends the requests of one x-user to one
// endpoint, whatever connection they come on, and different users to both endpoints.
func TestHashHeaderThroughProxy(t *testing.T) {
	h := &harness{}
	h.a, h.b = upstream(t, "a").Listener.Addr().String(), upstream(t, "b").Listener.Addr().String()
	h = startProxy(t, testRegistry(t), fmt.Sprintf(`
listeners:
- name: http
  address: 127.0.0.1:0
  routes: [{name: all, match: {path: {prefix: /}}, cluster: sticky}]
clusters:
- {name: sticky, lb: ring_hash, hash_header: x-user, endpoints: [{address: "%s"}, {address: "%s"}]}
`, h.a, h.b))
	used := map[string]int{}
	for i := range 20 {
		user := fmt.Sprintf("user-%d", i)
		var first string
		for range 3 {
			c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} // a new client address each time
			resp, _ := get(t, c, h.base+"/", map[string]string{"x-user": user})
			got := resp.Header.Get("X-Upstream")
			if first == "" {
				first = got
			} else if got != first {
				t.Fatalf("%s went to %s and %s", user, first, got)
			}
		}
		used[first]++
	}
	if len(used) != 2 {
		t.Fatalf("20 users reached %v, want both endpoints", used)
	}
}
