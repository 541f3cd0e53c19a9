package config

import (
	"encoding/json"
	"fmt"
	"time"
)

// File is proxy.yaml as written. Every field is documented in docs/proxy.md.
type File struct {
	Admin     Admin      `json:"admin"`
	Listeners []Listener `json:"listeners"`
	Clusters  []Cluster  `json:"clusters"`
	// DrainTimeout bounds how long an old configuration may keep serving in-flight streams after a reload, and
	// how long shutdown waits. Default 30s.
	DrainTimeout Duration `json:"drain_timeout,omitempty"`
	AccessLog    bool     `json:"access_log,omitempty"`
}

// Admin is the admin server.
type Admin struct {
	Address string `json:"address"` // host:port; empty disables the admin server
}

// Listener accepts connections of one protocol.
type Listener struct {
	Name     string `json:"name"`
	Address  string `json:"address"`
	Protocol string `json:"protocol,omitempty"` // http (default), dubbo, tcp
	// Direction is inbound (default: traffic to this workload) or outbound (traffic it sends, or a gateway's).
	// The data plane ignores it; the operator's filters pick listeners by it (WasmDeployment match modes
	// SERVER and CLIENT).
	Direction string   `json:"direction,omitempty"`
	TLS       *TLS     `json:"tls,omitempty"`
	Filters   []Filter `json:"filters,omitempty"`
	Routes    []Route  `json:"routes,omitempty"`
	// MaxRequestBody bounds how much of a body the chain buffers when a filter wants bodies. Default 1 MiB.
	MaxBufferBytes int `json:"max_buffer_bytes,omitempty"`
	// HTTPServer picks the HTTP/1.1 server of a cleartext http listener: wasmesh (default: the data plane's own,
	// host/proxy/h1server) or net/http (Go's). TLS listeners always use net/http.
	HTTPServer string `json:"http_server,omitempty"`
	// MaxRequestHeadersKB bounds an http listener's request line and header fields together, in KiB (Envoy's
	// field of the same name); over it, 431. Default 1024 (net/http's 1 MiB), at most 8192.
	MaxRequestHeadersKB int `json:"max_request_headers_kb,omitempty"`
	// MaxHeadersCount bounds the number of request header fields of an http listener (Envoy's
	// max_headers_count); over it, 431. Default 100, as Envoy's.
	MaxHeadersCount int `json:"max_headers_count,omitempty"`
}

// TLS turns on TLS with ALPN (h2, http/1.1) on a listener.
type TLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
}

// Filter is one filter of a listener's chain.
type Filter struct {
	Name     string          `json:"name"`
	Kind     string          `json:"kind"`            // wasm, header, apikey, ...
	Phase    string          `json:"phase,omitempty"` // AUTHN, AUTHZ, STATS or empty
	Priority int             `json:"priority,omitempty"`
	Module   *Module         `json:"module,omitempty"` // wasm only
	Config   json.RawMessage `json:"config,omitempty"` // passed to the filter as JSON
	// Options are settings of the filter's kind (for wasm: pool_size, callbacks, fail_strategy, ...).
	Options  json.RawMessage `json:"options,omitempty"`
	FailOpen bool            `json:"fail_open,omitempty"`
}

// Module references a Wasm module.
type Module struct {
	URL    string `json:"url"`
	SHA256 string `json:"sha256,omitempty"`
}

// Route sends matching requests to a cluster.
type Route struct {
	Name             string                    `json:"name"`
	Match            Match                     `json:"match"`
	Cluster          string                    `json:"cluster,omitempty"`
	WeightedClusters []WeightedCluster         `json:"weighted_clusters,omitempty"`
	Timeout          Duration                  `json:"timeout,omitempty"`
	Retries          *Retries                  `json:"retries,omitempty"`
	RequestHeaders   *HeaderMutation           `json:"request_headers,omitempty"`
	ResponseHeaders  *HeaderMutation           `json:"response_headers,omitempty"`
	Filters          map[string]FilterOverride `json:"filters,omitempty"`
}

// Match selects requests. Empty fields match everything. For Dubbo listeners, Service/DubboMethod/Version/Group
// and Attachments match; for HTTP, Host/Path/Method/Headers.
type Match struct {
	Host    string        `json:"host,omitempty"` // exact or "*.suffix"
	Path    *PathMatch    `json:"path,omitempty"`
	Method  string        `json:"method,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`

	Service     string        `json:"service,omitempty"`
	DubboMethod string        `json:"dubbo_method,omitempty"`
	Version     string        `json:"version,omitempty"`
	Group       string        `json:"group,omitempty"`
	Attachments []HeaderMatch `json:"attachments,omitempty"`
}

// PathMatch matches the request path (without the query); exactly one field is set.
type PathMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// HeaderMatch matches one header; with no Exact/Prefix/Regex it requires presence. Invert negates.
type HeaderMatch struct {
	Name   string `json:"name"`
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
	Invert bool   `json:"invert,omitempty"`
}

// WeightedCluster is one share of a split.
type WeightedCluster struct {
	Cluster string `json:"cluster"`
	Weight  int    `json:"weight"`
}

// Retries retries failed upstream attempts.
type Retries struct {
	Attempts int      `json:"attempts"`           // retries after the first attempt
	On       []string `json:"retry_on"`           // connect-failure, 5xx, reset ("on" would be YAML 1.1 true)
	Budget   float64  `json:"budget,omitempty"`   // max share of active requests that may be retries; default 0.2
	PerTry   Duration `json:"per_try,omitempty"`  // timeout per attempt
	Backoff  Duration `json:"backoff,omitempty"`  // base backoff; default 25ms
	MaxBytes int      `json:"max_body,omitempty"` // request bodies up to this size are buffered for replay; default 64 KiB
}

// HeaderMutation changes headers on a route.
type HeaderMutation struct {
	Set    map[string]string `json:"set,omitempty"`
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// FilterOverride changes one listener filter on one route.
type FilterOverride struct {
	Disabled bool            `json:"disabled,omitempty"`
	Config   json.RawMessage `json:"config,omitempty"`
}

// Cluster is a group of upstream endpoints.
type Cluster struct {
	Name           string          `json:"name"`
	Protocol       string          `json:"protocol,omitempty"` // http1 (default), h2c, h2 (TLS), dubbo
	TLS            *UpstreamTLS    `json:"tls,omitempty"`
	LB             string          `json:"lb,omitempty"` // round_robin (default), weighted, least_request, ring_hash
	HashHeader     string          `json:"hash_header,omitempty"`
	Endpoints      []Endpoint      `json:"endpoints"`
	ConnectTimeout Duration        `json:"connect_timeout,omitempty"`
	MaxIdlePerHost int             `json:"max_idle_per_endpoint,omitempty"`
	HealthCheck    *HealthCheck    `json:"health_check,omitempty"`
	Outlier        *Outlier        `json:"outlier,omitempty"`
	CircuitBreaker *CircuitBreaker `json:"circuit_breaker,omitempty"`
}

// UpstreamTLS configures TLS to the endpoints.
type UpstreamTLS struct {
	ServerName         string `json:"server_name,omitempty"`
	CAFile             string `json:"ca_file,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
}

// Endpoint is one upstream address.
type Endpoint struct {
	Address string `json:"address"`
	Weight  int    `json:"weight,omitempty"`
}

// HealthCheck probes endpoints actively.
type HealthCheck struct {
	Type               string   `json:"type"` // http, tcp or dubbo (heartbeat)
	Path               string   `json:"path,omitempty"`
	Interval           Duration `json:"interval,omitempty"`
	Timeout            Duration `json:"timeout,omitempty"`
	HealthyThreshold   int      `json:"healthy_threshold,omitempty"`
	UnhealthyThreshold int      `json:"unhealthy_threshold,omitempty"`
}

// Outlier ejects endpoints that fail passively.
type Outlier struct {
	Consecutive5xx     int      `json:"consecutive_5xx,omitempty"`
	ConsecutiveFailure int      `json:"consecutive_connect_failure,omitempty"`
	BaseEjection       Duration `json:"base_ejection_time,omitempty"`
	MaxEjectionPercent int      `json:"max_ejection_percent,omitempty"`
}

// CircuitBreaker bounds what a cluster accepts; zero means no limit.
type CircuitBreaker struct {
	MaxConnections int `json:"max_connections,omitempty"`
	MaxPending     int `json:"max_pending,omitempty"`
	MaxRequests    int `json:"max_requests,omitempty"`
}

// Duration is a time.Duration written as "1.5s" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("expected a duration string such as \"1s\" or \"250ms\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("expected a duration such as \"1s\" or \"250ms\", got %q", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D returns the time.Duration, or def when d is zero.
func (d Duration) D(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}
