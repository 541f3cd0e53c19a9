package cluster

import (
	"net/http"
	"testing"

	"github.com/wasmesh/wasmesh/host/proxy/config"
	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// TestHashHeader: with ring_hash and hash_header, requests carrying the same header value stick to one endpoint
// whatever their client address, different values spread over the endpoints, and a request without the header
// is placed by its client address. Other balancers and ring_hash without hash_header never read the header.
func TestHashHeader(t *testing.T) {
	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
		"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "xavier"}
	clients := []string{"10.0.0.1:1000", "10.0.0.2:2000", "10.0.0.3:3000", "192.168.1.9:4444"}
	tests := []struct {
		name       string
		lb, header string
		// headerKeys: HashKey returns the header's value when present (else the client address)
		headerKeys bool
	}{
		{"ring_hash by x-user", "ring_hash", "x-user", true},
		{"ring_hash by client address", "ring_hash", "", false},
		{"round_robin ignores hash_header", "round_robin", "x-user", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(config.Cluster{Name: "c", LB: tt.lb, HashHeader: tt.header,
				Endpoints: endpoints("a:1", "b:2", "c:3")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range users {
				h := http.Header{"X-User": {u}}
				want := clients[0]
				if tt.headerKeys {
					want = u
				}
				if got := c.HashKey(h, clients[0]); got != want {
					t.Fatalf("HashKey(x-user: %s) = %q, want %q", u, got, want)
				}
			}
			// Dubbo streams show attachments as header pairs in the case the client sent.
			attachments := &filter.Pairs{P: [][2]string{{"X-USER", "alice"}}}
			if want := map[bool]string{true: "alice", false: clients[3]}[tt.headerKeys]; c.HashKey(attachments, clients[3]) != want {
				t.Fatalf("HashKey(attachment X-USER: alice) = %q, want %q", c.HashKey(attachments, clients[3]), want)
			}
			if got := c.HashKey(http.Header{}, clients[1]); got != clients[1] {
				t.Fatalf("without the header: key %q, want the client address %q", got, clients[1])
			}
			if got := c.HashKey(nil, clients[2]); got != clients[2] {
				t.Fatalf("without headers: key %q, want the client address %q", got, clients[2])
			}
			if tt.lb != "ring_hash" {
				return
			}
			spread := map[string]int{}
			for _, u := range users {
				h := http.Header{"X-User": {u}}
				var first string
				for _, client := range clients {
					for range 5 {
						ep, err := c.Pick(c.HashKey(h, client))
						if err != nil {
							t.Fatal(err)
						}
						switch {
						case first == "":
							first = ep.Address
						case ep.Address != first && tt.headerKeys:
							t.Fatalf("x-user %s went to %s and %s", u, first, ep.Address)
						}
					}
				}
				spread[first]++
			}
			if tt.headerKeys && len(spread) < 3 {
				t.Fatalf("20 users landed on %d of 3 endpoints: %v", len(spread), spread)
			}
		})
	}
}

// The key is read without allocating: HashKey runs on every request of a ring_hash cluster.
func TestHashKeyAllocs(t *testing.T) {
	c, err := New(config.Cluster{Name: "c", LB: "ring_hash", HashHeader: "x-user", Endpoints: endpoints("a:1", "b:2")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var h HeaderGetter = http.Header{"X-User": {"alice"}}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Pick(c.HashKey(h, "10.0.0.1:1")) }); n != 0 {
		t.Fatalf("%v allocations per pick", n)
	}
}

// BenchmarkRingHashKey compares placing a request by its client address with placing it by hash_header.
func BenchmarkRingHashKey(b *testing.B) {
	for _, bc := range []struct{ name, header string }{{"client-address", ""}, {"hash-header", "x-user"}} {
		b.Run(bc.name, func(b *testing.B) {
			c, err := New(config.Cluster{Name: "c", LB: "ring_hash", HashHeader: bc.header,
				Endpoints: endpoints("a:1", "b:2", "c:3")}, nil)
			if err != nil {
				b.Fatal(err)
			}
			var h HeaderGetter = http.Header{"X-User": {"alice"}, "Accept": {"*/*"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Pick(c.HashKey(h, "10.0.0.1:41234")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
