package drain

import (
	"sync"
	"testing"
)

func TestRetireWaitsForLastRelease(t *testing.T) {
	r := New()
	for range 2 {
		if !r.Acquire() {
			t.Fatal("acquire on a live ref failed")
		}
	}
	r.Retire()
	if r.Acquire() {
		t.Fatal("acquire after retire succeeded")
	}
	r.Release()
	select {
	case <-r.Done():
		t.Fatal("done with a reference still held")
	default:
	}
	r.Release()
	<-r.Done()
}

func TestRetireUnused(t *testing.T) {
	r := New()
	r.Retire()
	<-r.Done()
}

func TestConcurrent(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if r.Acquire() {
					r.Release()
				}
			}
		})
	}
	r.Retire()
	wg.Wait()
	<-r.Done()
	if r.InUse() != 0 {
		t.Fatalf("in use %d", r.InUse())
	}
}
