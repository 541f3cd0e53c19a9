package match

import (
	"strings"
	"testing"

	"github.com/wasmesh/wasmesh/filters/internal/request"
)

func ptr(s string) *string { return &s }

func TestString(t *testing.T) {
	tests := []struct {
		m       String
		in      string
		want    bool
		wantErr string
	}{
		{String{Exact: ptr("a")}, "a", true, ""},
		{String{Exact: ptr("")}, "", true, ""},
		{String{Exact: ptr("a")}, "ab", false, ""},
		{String{Prefix: "say"}, "sayHello", true, ""},
		{String{Prefix: "say"}, "sa", false, ""},
		{String{Regex: "say[A-Z].*"}, "sayHello", true, ""},
		{String{Regex: "say"}, "xsayx", false, ""}, // anchored
		{String{}, "", false, "set exactly one"},
		{String{Exact: ptr("a"), Prefix: "b"}, "", false, "set exactly one"},
		{String{Regex: "("}, "", false, "f.regex: invalid regular expression"},
	}
	for _, tt := range tests {
		m, err := tt.m.Compile("f")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: err %v, want %q", tt.m, err, tt.wantErr)
			}
			continue
		}
		if err != nil || m.Match(tt.in) != tt.want {
			t.Errorf("%+v.Match(%q) = %v (err %v), want %v", tt.m, tt.in, m.Match(tt.in), err, tt.want)
		}
	}
}

func TestRequest(t *testing.T) {
	m, err := Request{Hosts: []string{"*.example.com"}, PathPrefix: "/api", Methods: []string{"get"}}.Compile("match")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Request{Service: &String{Exact: ptr("svc")}, DubboMethod: &String{Prefix: "admin"}}.Compile("match")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		m       *RequestMatcher
		headers [][2]string
		want    bool
	}{
		{"http ok", &m, [][2]string{{":method", "GET"}, {":path", "/api/x"}, {":authority", "a.example.com"}}, true},
		{"wrong host", &m, [][2]string{{":method", "GET"}, {":path", "/api/x"}, {":authority", "example.org"}}, false},
		{"wrong method", &m, [][2]string{{":method", "POST"}, {":path", "/api/x"}, {":authority", "a.example.com"}}, false},
		{"dubbo ok", &d, [][2]string{{":method", "DUBBO"}, {":path", "/svc/adminStop"}}, true},
		{"dubbo rule on http", &d, [][2]string{{":method", "GET"}, {":path", "/svc/adminStop"}, {"x-dubbo-service", "svc"}, {"x-dubbo-method", "adminStop"}}, false},
	}
	for _, tt := range tests {
		r := request.New(tt.headers, "")
		if got := tt.m.Match(&r); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
