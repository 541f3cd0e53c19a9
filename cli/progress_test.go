package cli

import (
	"bytes"
	"testing"
)

func TestRenderBar(t *testing.T) {
	tests := []struct {
		done, total int64
		want        string
	}{
		{0, 4 << 20, "x [          ]   0% 0.0 KiB/4.0 MiB"},
		{2 << 20, 4 << 20, "x [=====     ]  50% 2.0 MiB/4.0 MiB"},
		{5 << 20, 4 << 20, "x [==========] 100% 5.0 MiB/4.0 MiB"},
		{512, 0, "x 0.5 KiB"},
	}
	for _, tt := range tests {
		if got := renderBar("x", tt.done, tt.total, 10); got != tt.want {
			t.Errorf("renderBar(%d, %d) = %q, want %q", tt.done, tt.total, got, tt.want)
		}
	}
}

func TestProgressQuietWhenNotATerminal(t *testing.T) {
	if newProgress(&bytes.Buffer{}, "x") != nil {
		t.Error("progress bar drawn on a buffer")
	}
}
