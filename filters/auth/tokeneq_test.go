package main

import (
	"strings"
	"testing"
)

func TestEqualWords(t *testing.T) {
	base := strings.Repeat("eyJhbGciOiJFZERTQSJ9.", 16) // 336 bytes
	tests := []struct {
		name string
		a, b string
		want bool
	}{
		{"empty", "", "", true},
		{"short equal", "abc", "abc", true},
		{"short differs", "abc", "abd", false},
		{"one word", "12345678", "12345678", true},
		{"long equal", base, strings.Clone(base), true},
		{"long, first byte differs", "X" + base[1:], base, false},
		{"long, byte in a word differs", base[:100] + "X" + base[101:], base, false},
		{"long, last byte differs", base[:len(base)-1] + "X", base, false},
		{"tail differs", base[:333] + "abc", base[:333] + "abd", false},
		{"lengths differ", base, base[:len(base)-1], false},
	}
	for _, tt := range tests {
		if got := equalWords(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: equalWords = %v, want %v", tt.name, got, tt.want)
		}
		if got := sameToken(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: sameToken = %v, want %v", tt.name, got, tt.want)
		}
	}
}
