package cli

import (
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name, env, automem string
		from               memlimit.Provider
		want               int64
	}{
		{name: "container limit", from: memlimit.Limit(1 << 30), want: 1 << 30 * 9 / 10},
		{name: "no limit", from: func() (uint64, error) { return 0, memlimit.ErrNoLimit }, want: math.MaxInt64},
		{name: "GOMEMLIMIT set wins", env: "1GiB", from: memlimit.Limit(1 << 30), want: 123 << 20},
		{name: "AUTOMEMLIMIT off", automem: "off", from: memlimit.Limit(1 << 30), want: 123 << 20},
		{name: "AUTOMEMLIMIT ratio", automem: "0.5", from: memlimit.Limit(1 << 30), want: 1 << 29},
		{name: "bad AUTOMEMLIMIT keeps the limit", automem: "2", from: memlimit.Limit(1 << 30), want: 123 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(123 << 20)
			t.Setenv("GOMEMLIMIT", tc.env)
			if tc.automem != "" {
				t.Setenv("AUTOMEMLIMIT", tc.automem)
			}
			setMemoryLimit(log, tc.from)
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Fatalf("GOMEMLIMIT %d, want %d", got, tc.want)
			}
		})
	}
}
