package engine

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wasmesh/wasmesh/host/abi"
)

// Metrics holds the metrics modules define with proxy_define_metric. A name defines one metric for the whole
// engine (every VM and plugin that defines it shares it, as in Envoy). The data plane reads it with Each.
type Metrics struct {
	mu     sync.RWMutex
	byName map[string]uint32
	list   []*metric // id-1 indexes this
}

type metric struct {
	name  string
	base  string
	tags  [][2]string
	typ   abi.MetricType
	value atomic.Int64  // counter and gauge
	count atomic.Uint64 // histogram samples
	sum   atomic.Uint64 // histogram sum
}

// Metric is a read-only view of one metric.
type Metric struct {
	// Name is the name the module defined, e.g. "wasmcustom.requests_total.method=GET".
	Name string
	// BaseName and Tags are Name split Envoy-style: dot-separated segments of the form key=value become tags.
	BaseName string
	Tags     [][2]string
	Type     abi.MetricType
	// Value is the counter or gauge value; for histograms Count and Sum summarize the recorded samples.
	Value      int64
	Count, Sum uint64
}

func newMetrics() *Metrics { return &Metrics{byName: map[string]uint32{}} }

// Each calls fn for every metric, in definition order.
func (m *Metrics) Each(fn func(Metric)) {
	m.mu.RLock()
	list := m.list
	m.mu.RUnlock()
	for _, x := range list {
		fn(Metric{Name: x.name, BaseName: x.base, Tags: x.tags, Type: x.typ,
			Value: x.value.Load(), Count: x.count.Load(), Sum: x.sum.Load()})
	}
}

// Get returns the metric defined under name.
func (m *Metrics) Get(name string) (Metric, bool) {
	var out Metric
	found := false
	m.Each(func(x Metric) {
		if x.Name == name {
			out, found = x, true
		}
	})
	return out, found
}

func (m *Metrics) define(t abi.MetricType, name []byte) (uint32, abi.Status) {
	if t > abi.MetricHistogram || len(name) == 0 {
		return 0, abi.StatusBadArgument
	}
	m.mu.RLock()
	id, ok := m.byName[string(name)]
	m.mu.RUnlock()
	if ok {
		if m.list[id-1].typ != t {
			return 0, abi.StatusBadArgument
		}
		return id, abi.StatusOK
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if id, ok := m.byName[string(name)]; ok {
		return id, abi.StatusOK
	}
	x := &metric{name: string(name), typ: t}
	x.base, x.tags = splitTags(x.name)
	m.list = append(m.list, x)
	id = uint32(len(m.list))
	m.byName[x.name] = id
	return id, abi.StatusOK
}

func (m *Metrics) lookup(id uint32) *metric {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if id == 0 || int(id) > len(m.list) {
		return nil
	}
	return m.list[id-1]
}

func (m *Metrics) increment(id uint32, delta int64) abi.Status {
	x := m.lookup(id)
	if x == nil {
		return abi.StatusNotFound
	}
	if x.typ == abi.MetricHistogram {
		return abi.StatusBadArgument
	}
	x.value.Add(delta)
	return abi.StatusOK
}

func (m *Metrics) record(id uint32, v uint64) abi.Status {
	x := m.lookup(id)
	if x == nil {
		return abi.StatusNotFound
	}
	if x.typ == abi.MetricHistogram {
		x.count.Add(1)
		x.sum.Add(v)
		return abi.StatusOK
	}
	x.value.Store(int64(v))
	return abi.StatusOK
}

func (m *Metrics) get(id uint32) (uint64, abi.Status) {
	x := m.lookup(id)
	if x == nil {
		return 0, abi.StatusNotFound
	}
	if x.typ == abi.MetricHistogram {
		return 0, abi.StatusBadArgument // as in Envoy: histograms are write-only
	}
	return uint64(x.value.Load()), abi.StatusOK
}

// splitTags extracts Envoy-style tags: "a.b.method=GET.code=200" is base "a.b" with tags method=GET, code=200.
func splitTags(name string) (string, [][2]string) {
	if !strings.Contains(name, "=") {
		return name, nil
	}
	var base []string
	var tags [][2]string
	for _, seg := range strings.Split(name, ".") {
		if k, v, ok := strings.Cut(seg, "="); ok && k != "" {
			tags = append(tags, [2]string{k, v})
			continue
		}
		base = append(base, seg)
	}
	return strings.Join(base, "."), tags
}
