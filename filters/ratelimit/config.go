package main

import (
	"github.com/wasmesh/wasmesh/filters/internal/match"
)

// Config is the JSON plugin configuration of the ratelimit filter; README.md documents every field and default.
type Config struct {
	// Domain namespaces the buckets in the proxy's shared data, so two plugins sharing a VM id do not share buckets.
	Domain string       `json:"domain,omitempty"`
	Rules  []RuleConfig `json:"rules"`
	// ResponseHeaders adds x-ratelimit-limit/remaining/reset to responses of allowed requests.
	ResponseHeaders bool `json:"response_headers,omitempty"`
	// ConsumerHeader is where the auth filter put the consumer name.
	ConsumerHeader string `json:"consumer_header,omitempty"`
	// MaxCASRetries bounds the compare-and-swap attempts on one bucket before the request is let through.
	MaxCASRetries int `json:"max_cas_retries,omitempty"`
	// MaxBuckets bounds the per-value buckets of each rule in shared data (slots addressed by hash).
	MaxBuckets int `json:"max_buckets,omitempty"`
}

// RuleConfig limits the requests it matches, one bucket per key value.
type RuleConfig struct {
	Name      string           `json:"name"`
	Match     *match.Request   `json:"match,omitempty"`
	Key       KeyConfig        `json:"key"`
	LimitKeys []LimitKeyConfig `json:"limit_keys"`
	// MaxBuckets overrides the top-level max_buckets for this rule.
	MaxBuckets int `json:"max_buckets,omitempty"`
}

// KeyConfig says what a request is counted by: source is header, query, consumer, client_ip, path,
// dubbo_service or dubbo_method; name is the header or query parameter.
type KeyConfig struct {
	Source string `json:"source"`
	Name   string `json:"name,omitempty"`
}

// LimitKeyConfig selects key values (exactly one of value, regex or cidr; value "*" matches any) and gives them a
// rate. Each distinct value gets its own bucket unless Shared is set.
type LimitKeyConfig struct {
	Value    string `json:"value,omitempty"`
	Regex    string `json:"regex,omitempty"`
	CIDR     string `json:"cidr,omitempty"`
	Shared   bool   `json:"shared,omitempty"`
	Requests uint64 `json:"requests"`
	Per      string `json:"per"`
	Burst    uint64 `json:"burst,omitempty"`
}
