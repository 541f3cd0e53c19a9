package httpfield

import (
	"net/textproto"
	"testing"
)

func TestCanonicalInterns(t *testing.T) {
	var n Names
	for _, tc := range []struct{ in, want string }{
		{"content-type", "Content-Type"}, {"X-UPPER-case", "X-Upper-Case"}, {"x_under", "X_under"}, {"a--b", "A--B"},
	} {
		if got := n.Canonical([]byte(tc.in)); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	name := []byte("x-seen-before")
	n.Canonical(name)
	if a := testing.AllocsPerRun(100, func() { n.Canonical(name); n.Canonical([]byte("Content-Length")) }); a != 0 {
		t.Errorf("%v allocations for names seen before and common ones", a)
	}
}

func TestTokens(t *testing.T) {
	for _, tc := range []struct {
		v, token string
		has      bool
	}{
		{"keep-alive, Close", "close", true}, {" close ", "close", true}, {"closed", "close", false},
		{"a,,b", "b", true}, {"", "close", false}, {"upgrade", "Upgrade", true},
	} {
		if got := HasToken(tc.v, tc.token); got != tc.has {
			t.Errorf("HasToken(%q, %q) = %v", tc.v, tc.token, got)
		}
	}
	var got []string
	EachToken(" a , ,b,c ", func(tok string) { got = append(got, tok) })
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("EachToken: %q", got)
	}
}

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		line, name, value string
		ok                bool
	}{
		{"Content-Type: text/plain", "Content-Type", "text/plain", true},
		{"x:\t a b \t", "x", "a b", true},
		{"x:", "x", "", true},
		{" folded: 1", "", "", false},
		{": no name", "", "", false},
		{"x : space before colon", "", "", false},
		{"no colon", "", "", false},
		{"x: bad\rvalue", "", "", false},
		{"x: del\x7f", "", "", false},
		{"x: obs-text \xff is allowed", "x", "obs-text \xff is allowed", true},
	} {
		name, value, ok := Split([]byte(tc.line))
		if ok != tc.ok || string(name) != tc.name || string(value) != tc.value {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q, %v", tc.line, name, value, ok, tc.name, tc.value, tc.ok)
		}
	}
}

// FuzzCanonical: for token names, Names spells as textproto does.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"x-user", "CONTENT-LENGTH", "-x", "x-", "1st-name", "a_b-c"} {
		f.Add(s)
	}
	var n Names
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if !IsToken(s[i]) {
				return // the parsers refuse non-token names before they ask
			}
		}
		if got, want := n.Canonical([]byte(s)), textproto.CanonicalMIMEHeaderKey(s); got != want {
			t.Fatalf("Canonical(%q) = %q, textproto says %q", s, got, want)
		}
	})
}
