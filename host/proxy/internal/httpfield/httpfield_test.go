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
