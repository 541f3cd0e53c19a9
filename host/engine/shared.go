package engine

import (
	"slices"
	"sync"

	"github.com/wasmesh/wasmesh/host/abi"
)

// sharedStore is the shared data and the shared queues of one vm id: every VM of that vm id on this proxy sees
// the same values, whichever plugin or pool member it serves.
type sharedStore struct {
	eng  *Engine
	vmID string

	mu   sync.RWMutex
	data map[string]sharedValue

	qmu    sync.Mutex
	queues map[string]*queue
	byID   map[uint32]*queue
}

// sharedValue is never changed in place: a set stores a new slice, so a reader may return the old one without
// holding the lock while it is copied into a guest.
type sharedValue struct {
	b   []byte
	cas uint32
}

type queue struct {
	id    uint32
	name  string
	items [][]byte
	subs  []queueSub // root contexts that registered the queue, notified round-robin
	next  int
}

type queueSub struct {
	vm   *vm
	root uint32
}

func newSharedStore(e *Engine, vmID string) *sharedStore {
	return &sharedStore{eng: e, vmID: vmID, data: map[string]sharedValue{}, queues: map[string]*queue{}, byID: map[uint32]*queue{}}
}

// queueStore finds the store that owns a queue id.
func (e *Engine) queueStore(id uint32) *sharedStore {
	if s, ok := e.queues.Load(id); ok {
		return s.(*sharedStore)
	}
	return nil
}

func (s *sharedStore) get(key string) ([]byte, uint32, bool) {
	s.mu.RLock()
	v, ok := s.data[key]
	s.mu.RUnlock()
	return v.b, v.cas, ok
}

func (s *sharedStore) getBytes(key []byte) ([]byte, uint32, bool) {
	s.mu.RLock()
	v, ok := s.data[string(key)] // no allocation: map index by converted bytes
	s.mu.RUnlock()
	return v.b, v.cas, ok
}

// set stores value if cas is 0 or matches the current CAS. CAS values start at 1 and grow by one per write, so 0
// never names a real version.
func (s *sharedStore) set(key, value []byte, cas uint32) abi.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.data[string(key)]
	if cas != 0 && (!ok || cur.cas != cas) {
		return abi.StatusCasMismatch
	}
	next := cur.cas + 1
	if next == 0 {
		next = 1
	}
	s.data[string(key)] = sharedValue{b: slices.Clone(value), cas: next}
	return abi.StatusOK
}

func (s *sharedStore) register(name []byte, v *vm, root uint32) uint32 {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queues[string(name)]
	if q == nil {
		// Queue ids are unique in the engine, so a queue resolved under another vm id is found by id alone.
		q = &queue{id: s.eng.queueID.Add(1), name: string(name)}
		s.queues[q.name] = q
		s.byID[q.id] = q
		s.eng.queues.Store(q.id, s)
	}
	for _, sub := range q.subs {
		if sub.vm == v && sub.root == root {
			return q.id
		}
	}
	q.subs = append(q.subs, queueSub{v, root})
	return q.id
}

func (s *sharedStore) resolve(name []byte) (uint32, bool) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.queues[string(name)]
	if q == nil {
		return 0, false
	}
	return q.id, true
}

func (s *sharedStore) dequeue(id uint32) ([]byte, abi.Status) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	q := s.byID[id]
	if q == nil {
		return nil, abi.StatusNotFound
	}
	if len(q.items) == 0 {
		return nil, abi.StatusEmpty
	}
	item := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return item, abi.StatusOK
}

// enqueue stores a copy of data and wakes one live subscriber. The wake-up runs on its own goroutine: the
// subscriber may be the VM that is enqueueing, whose lock is held right now.
func (s *sharedStore) enqueue(id uint32, data []byte) abi.Status {
	s.qmu.Lock()
	q := s.byID[id]
	if q == nil {
		s.qmu.Unlock()
		return abi.StatusNotFound
	}
	q.items = append(q.items, slices.Clone(data))
	var sub queueSub
	for range q.subs {
		c := q.subs[q.next%len(q.subs)]
		q.next++
		if !c.vm.dead.Load() {
			sub = c
			break
		}
	}
	s.qmu.Unlock()
	if sub.vm != nil {
		go sub.vm.queueReady(sub.root, id)
	}
	return abi.StatusOK
}

// forget drops a dead VM's subscriptions.
func (s *sharedStore) forget(v *vm) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for _, q := range s.queues {
		q.subs = slices.DeleteFunc(q.subs, func(sub queueSub) bool { return sub.vm == v })
	}
}
