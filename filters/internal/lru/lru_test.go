package lru

import "testing"

func TestEvictsLeastRecentlyUsed(t *testing.T) {
	c := New[string](2)
	c.Put(1, "a")
	c.Put(2, "b")
	if v, ok := c.Get(1); !ok || v != "a" { // 1 is now the most recent
		t.Fatalf("Get(1) = %q %v", v, ok)
	}
	c.Put(3, "c") // evicts 2
	if _, ok := c.Get(2); ok {
		t.Fatal("2 should have been evicted")
	}
	for k, want := range map[uint64]string{1: "a", 3: "c"} {
		if v, ok := c.Get(k); !ok || v != want {
			t.Fatalf("Get(%d) = %q %v, want %q", k, v, ok, want)
		}
	}
	c.Put(3, "c2")
	c.Remove(1)
	if c.Len() != 1 {
		t.Fatalf("Len = %d, want 1", c.Len())
	}
	if v, _ := c.Get(3); v != "c2" {
		t.Fatalf("update lost: %q", v)
	}
}

func TestBoundHoldsUnderChurn(t *testing.T) {
	c := New[int](16)
	for i := uint64(0); i < 10_000; i++ {
		c.Put(i%97, int(i))
		if c.Len() > 16 {
			t.Fatalf("Len = %d after %d puts", c.Len(), i)
		}
	}
	n := 0
	for e := c.head; e != nil; e = e.next {
		n++
	}
	if n != c.Len() {
		t.Fatalf("list holds %d nodes, map %d", n, c.Len())
	}
}

func BenchmarkGetHit(b *testing.B) {
	c := New[int](1024)
	for i := uint64(0); i < 1024; i++ {
		c.Put(i, int(i))
	}
	b.ReportAllocs()
	var k uint64
	for b.Loop() {
		k = (k + 7) % 1024
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss")
		}
	}
}
