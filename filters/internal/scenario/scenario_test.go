package scenario

import "testing"

func TestExpand(t *testing.T) {
	fx := map[string]string{"tok": `a"b`, "jwks": `{"keys": []}`}
	tests := []struct{ in, want, err string }{
		{`"${tok}"`, `"a\"b"`, ""},
		{`${raw:jwks}`, `{"keys": []}`, ""},
		{`"${repeat:ab:3}"`, `"ababab"`, ""},
		{`"${missing}"`, "", "no such fixture"},
		{`"${repeat:x:-1}"`, "", "bad placeholder"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, fx)
		if tt.err != "" {
			if err == nil {
				t.Errorf("%s: no error, want %q", tt.in, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestValueMatches(t *testing.T) {
	for _, tt := range []struct {
		want, got string
		ok        bool
	}{{"a", "a", true}, {"a", "b", false}, {"*", "", true}, {"re:[0-9]+", "42", true}, {"re:[0-9]+", "42x", false}} {
		if ValueMatches(tt.want, tt.got) != tt.ok {
			t.Errorf("ValueMatches(%q, %q) != %v", tt.want, tt.got, tt.ok)
		}
	}
}
