package filter

import (
	"net/textproto"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	tests := []struct{ in, canonical, lower string }{
		{"x-user", "X-User", "x-user"},
		{"X-User", "X-User", "x-user"},
		{"content-TYPE", "Content-Type", "content-type"},
		{"x_under-score", "X_under-Score", "x_under-score"},
		{"1st-name", "1st-Name", "1st-name"},
		{"with space", "with space", "with space"},
		{"", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			for range 2 { // the second round answers from the caches
				if got := CanonicalName(tt.in); got != tt.canonical {
					t.Errorf("CanonicalName(%q) = %q, want %q", tt.in, got, tt.canonical)
				}
				if got := LowerName(tt.in); got != tt.lower {
					t.Errorf("LowerName(%q) = %q, want %q", tt.in, got, tt.lower)
				}
			}
		})
	}
}

func TestNamesDoNotAllocate(t *testing.T) {
	CanonicalName("x-seen")
	LowerName("X-Seen")
	if n := testing.AllocsPerRun(100, func() {
		CanonicalName("x-seen")
		CanonicalName("X-Seen")
		LowerName("X-Seen")
		LowerName("x-seen")
	}); n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

// FuzzCanonicalName checks the fast paths against net/textproto, and LowerName against strings.ToLower on ASCII
// and byte by byte elsewhere.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"x-user", "X-User", "a--b", "-x", "ÿ-x", "x y", "X-Üser", "content-md5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := CanonicalName(s), textproto.CanonicalMIMEHeaderKey(s); got != want {
			t.Fatalf("CanonicalName(%q) = %q, textproto says %q", s, got, want)
		}
		got := LowerName(s)
		if ascii := strings.IndexFunc(s, func(r rune) bool { return r >= 0x80 }) < 0; ascii && got != strings.ToLower(s) {
			t.Fatalf("LowerName(%q) = %q, want %q", s, got, strings.ToLower(s))
		}
		if len(got) != len(s) {
			t.Fatalf("LowerName(%q) = %q: length changed", s, got)
		}
		for i := range len(s) {
			if c := s[i]; got[i] != c && !('A' <= c && c <= 'Z' && got[i] == c+'a'-'A') {
				t.Fatalf("LowerName(%q) = %q: byte %d", s, got, i)
			}
		}
	})
}

// The table of common names must agree with the conversions it shortcuts.
func TestCommonNames(t *testing.T) {
	for canonical, lower := range commonLower {
		if c := textproto.CanonicalMIMEHeaderKey(lower); c != canonical || asciiLower(canonical) != lower {
			t.Errorf("%q <-> %q: textproto says %q", canonical, lower, c)
		}
		if commonCanonical[lower] != canonical {
			t.Errorf("commonCanonical[%q] = %q, want %q", lower, commonCanonical[lower], canonical)
		}
	}
}

// BenchmarkLowerName converts a typical request's header names: common ones from the static table, and names
// outside it from the sync.Map cache (what every name cost before the table).
func BenchmarkLowerName(b *testing.B) {
	for _, tc := range []struct {
		name  string
		names []string
	}{
		{"common", []string{"Host", "User-Agent", "Accept", "Accept-Encoding", "X-Forwarded-For", "X-Api-Key"}},
		{"cached", []string{"X-Tenant", "X-User-Id", "X-Trace", "X-Custom-A", "X-Custom-B", "X-Custom-C"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for _, n := range tc.names {
				LowerName(n)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, n := range tc.names {
					LowerName(n)
				}
			}
		})
	}
}
