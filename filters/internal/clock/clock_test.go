package clock

import (
	"testing"
	"time"
)

func TestNowFollowsTheClock(t *testing.T) {
	for i := 0; i < 3; i++ {
		before := time.Now()
		got := Now()
		after := time.Now()
		// Wall readings must agree within the resolution of the clocks; monotonic order must hold exactly.
		if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
			t.Fatalf("Now() = %v, want between %v and %v", got, before, after)
		}
		if got.Sub(before) < 0 || after.Sub(got) < 0 {
			t.Fatalf("monotonic order broken: %v %v %v", before, got, after)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestResync(t *testing.T) {
	base = time.Now().Add(-Resync - time.Second) // a base too old: the next call takes a new one
	old := base
	if Now(); !base.After(old) {
		t.Fatal("an expired base was kept")
	}
}

func BenchmarkNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Now()
	}
}
