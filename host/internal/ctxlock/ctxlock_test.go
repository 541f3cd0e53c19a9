package ctxlock

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestExclusion runs goroutines that each take the lock many times, some with contexts that end while they wait,
// and checks that no two ever held it at once and that every Lock that returned nil got the lock.
func TestExclusion(t *testing.T) {
	for _, tc := range []struct {
		name      string
		workers   int
		perWorker int
		cancelled bool // every other worker's contexts end early
	}{
		{"two", 2, 20000, false},
		{"many", 16, 3000, false},
		{"many-with-abandoned-waits", 16, 3000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			var inside, got, gaveUp int64
			var mu sync.Mutex // guards got and gaveUp only
			var wg sync.WaitGroup
			for w := range tc.workers {
				wg.Go(func() {
					for range tc.perWorker {
						ctx, cancel := context.Background(), context.CancelFunc(func() {})
						if tc.cancelled && w%2 == 1 {
							ctx, cancel = context.WithTimeout(ctx, time.Microsecond)
						}
						err := m.Lock(ctx)
						cancel()
						if err != nil {
							if !errors.Is(err, context.DeadlineExceeded) {
								t.Errorf("Lock: %v, want nil or DeadlineExceeded", err)
							}
							mu.Lock()
							gaveUp++
							mu.Unlock()
							continue
						}
						inside++ // a data race (and a wrong total) if two goroutines are ever inside
						if inside != 1 {
							t.Errorf("%d goroutines inside the lock", inside)
						}
						inside--
						mu.Lock()
						got++
						mu.Unlock()
						m.Unlock()
					}
				})
			}
			wg.Wait()
			if total := int64(tc.workers * tc.perWorker); got+gaveUp != total {
				t.Fatalf("got %d + gave up %d, want %d", got, gaveUp, total)
			}
			if !tc.cancelled && gaveUp != 0 {
				t.Fatalf("%d waits gave up without a deadline", gaveUp)
			}
			if !m.TryLock() {
				t.Fatal("lock still held after every worker finished")
			}
		})
	}
}

// TestLockGivesUp checks that a waiter returns ctx.Err() when its context ends, without the lock, and that the
// holder's Unlock afterwards leaves the lock usable.
func TestLockGivesUp(t *testing.T) {
	m := New()
	if err := m.Lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- m.Lock(ctx) }()
	time.Sleep(10 * time.Millisecond) // let it wait; the test holds either way
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock = %v, want context.Canceled", err)
	}
	m.Unlock()
	if !m.TryLock() {
		t.Fatal("lock not free after the only holder unlocked")
	}
}

// TestWaiterWakes checks that a waiter blocked on a held lock gets it when the holder unlocks.
func TestWaiterWakes(t *testing.T) {
	m := New()
	if !m.TryLock() {
		t.Fatal("TryLock on a new lock failed")
	}
	if m.TryLock() {
		t.Fatal("TryLock on a held lock succeeded")
	}
	errc := make(chan error)
	go func() { errc <- m.Lock(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	m.Unlock()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waiter never woke after Unlock")
	}
}

func TestUnlockUnlockedPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Unlock of an unlocked Mutex did not panic")
		}
	}()
	New().Unlock()
}

// BenchmarkUncontended compares a Lock/Unlock pair with the buffered-channel lock it replaced in the engine.
func BenchmarkUncontended(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background()) // a cancellable context, as requests carry
	defer cancel()
	b.Run("ctxlock", func(b *testing.B) {
		m := New()
		for b.Loop() {
			if m.Lock(ctx) != nil {
				b.Fatal("lock failed")
			}
			m.Unlock()
		}
	})
	b.Run("channel", func(b *testing.B) {
		sem := make(chan struct{}, 1)
		for b.Loop() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				b.Fatal("lock failed")
			}
			<-sem
		}
	})
}
