package request

import (
	"net/netip"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name                  string
		headers               [][2]string
		src                   string
		dubbo                 bool
		service, method, path string
		authority             string
		ip                    string
	}{
		{"http", [][2]string{{":method", "GET"}, {":path", "/a/b?x=1"}, {":authority", "Example.com:8080"}}, "10.0.0.1:5000",
			false, "", "", "/a/b", "example.com", "10.0.0.1"},
		{"dubbo headers", [][2]string{{":method", "DUBBO"}, {":path", "/svc.A/m"}, {"x-dubbo-service", "svc.B"}, {"x-dubbo-method", "n"}}, "[2001:db8::1]:80",
			true, "svc.B", "n", "/svc.A/m", "", "2001:db8::1"},
		{"dubbo from path", [][2]string{{":method", "DUBBO"}, {":path", "/svc.A/m"}}, "::ffff:10.1.1.1",
			true, "svc.A", "m", "/svc.A/m", "", "10.1.1.1"},
		{"ipv6 authority", [][2]string{{":authority", "[::1]:443"}}, "garbage", false, "", "", "", "::1", ""},
		{"no source address", [][2]string{{":authority", "api.example.com"}, {":path", "/"}}, "", false, "", "", "/", "api.example.com", ""},
		{"bare ipv6 authority", [][2]string{{":authority", "2001:DB8::1"}}, "", false, "", "", "", "2001:db8::1", ""},
		{"host header", [][2]string{{"host", "API.Example.com:80"}}, "", false, "", "", "", "api.example.com", ""},
		{"unclosed bracket", [][2]string{{":authority", "[::1"}}, "", false, "", "", "", "[::1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(tt.headers, tt.src)
			if r.Dubbo != tt.dubbo || r.Service != tt.service || r.DubboMethod != tt.method || r.Path != tt.path || r.Authority != tt.authority {
				t.Fatalf("got %+v", r)
			}
			want := netip.Addr{}
			if tt.ip != "" {
				want = netip.MustParseAddr(tt.ip)
			}
			if r.ClientIP != want {
				t.Fatalf("ClientIP = %v, want %v", r.ClientIP, want)
			}
		})
	}
}

func TestQueryAndCookie(t *testing.T) {
	r := New([][2]string{{":path", "/p?a=1&b=x%20y&c&a=2&d%5B%5D=z"}, {"cookie", `s=1; jwt="tok"; t=2`}, {"cookie", "u=3"}}, "")
	for name, want := range map[string]string{"a": "1", "b": "x y", "c": "", "d[]": "z"} {
		if v, ok := r.Query(name); !ok || v != want {
			t.Errorf("Query(%q) = %q %v, want %q", name, v, ok, want)
		}
	}
	if _, ok := r.Query("missing"); ok {
		t.Error("Query(missing) found")
	}
	for name, want := range map[string]string{"jwt": "tok", "t": "2", "u": "3"} {
		if v, ok := r.Cookie(name); !ok || v != want {
			t.Errorf("Cookie(%q) = %q %v, want %q", name, v, ok, want)
		}
	}
}

// FuzzRequest parses arbitrary header values, query strings, cookies and source addresses.
func FuzzRequest(f *testing.F) {
	f.Add("/svc/method?a=1&b=%zz", "DUBBO", "a=b; c", "10.0.0.1:80", "a")
	f.Add("", "", "", "[::1", "")
	f.Fuzz(func(t *testing.T, path, method, cookie, src, name string) {
		r := New([][2]string{{":path", path}, {":method", method}, {"cookie", cookie}, {":authority", src}}, src)
		r.Query(name)
		r.Cookie(name)
		r.Header(name)
		if r.Dubbo != (method == MethodDubbo) {
			t.Fatal("Dubbo flag disagrees with :method")
		}
	})
}

func BenchmarkNew(b *testing.B) {
	h := [][2]string{{":method", "DUBBO"}, {":path", "/org.example.GreetingService/sayHello"}, {"x-dubbo-service", "org.example.GreetingService"},
		{"x-dubbo-method", "sayHello"}, {"x-dubbo-version", "1.0.0"}, {"x-dubbo-group", ""}, {"x-dubbo-protocol-version", "2.0.2"}, {"x-user-id", "u1"}}
	b.ReportAllocs()
	for b.Loop() {
		r := New(h, "10.0.0.1:1234")
		if !r.Dubbo {
			b.Fatal("not dubbo")
		}
	}
}
