package main

import (
	"encoding/json"

	"github.com/wasmesh/wasmesh/filters/internal/match"
	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
)

// Config is the JSON plugin configuration of the auth filter; README.md documents every field and its default.
type Config struct {
	// ConsumerHeader receives the authenticated consumer's name; any client-supplied value is removed first.
	ConsumerHeader string `json:"consumer_header,omitempty"`
	// Realm is announced in WWW-Authenticate.
	Realm string `json:"realm,omitempty"`
	// ForwardCredentials keeps the API key or Basic Authorization header on the upstream request.
	ForwardCredentials bool             `json:"forward_credentials,omitempty"`
	APIKey             *APIKeyConfig    `json:"api_key,omitempty"`
	Consumers          []ConsumerConfig `json:"consumers,omitempty"`
	// BasicCacheSize bounds the cache of successful Basic verifications (entries).
	BasicCacheSize int `json:"basic_cache_size,omitempty"`
	// BasicGuard protects the VMs from costly password checks: a cache of recent failures and limits on cold
	// (uncached) bcrypt checks.
	BasicGuard *BasicGuardConfig `json:"basic_guard,omitempty"`
	JWT        *JWTConfig        `json:"jwt,omitempty"`
	Rules      []RuleConfig      `json:"rules,omitempty"`
	// Default applies when no rule matches; when absent, any authenticated consumer is allowed.
	Default *PolicyConfig `json:"default,omitempty"`
}

// BasicGuardConfig bounds what failed or repeated Basic attempts can cost. README.md gives the defaults.
type BasicGuardConfig struct {
	// NegativeCacheSize bounds the cache of recently failed credentials (entries).
	NegativeCacheSize int `json:"negative_cache_size,omitempty"`
	// NegativeTTL is how long a failed user:password is answered 401 without checking it again.
	NegativeTTL pluginconfig.Duration `json:"negative_ttl,omitempty"`
	// ColdChecks limits bcrypt checks proxy-wide (all VMs); ColdChecksPerConsumer limits them per user name.
	ColdChecks            *RateConfig `json:"cold_checks,omitempty"`
	ColdChecksPerConsumer *RateConfig `json:"cold_checks_per_consumer,omitempty"`
}

// RateConfig is requests per period (second, minute or hour), with a burst (default requests).
type RateConfig struct {
	Requests uint64 `json:"requests"`
	Per      string `json:"per"`
	Burst    uint64 `json:"burst,omitempty"`
}

// APIKeyConfig says where API keys are read from.
type APIKeyConfig struct {
	Headers     []string `json:"headers,omitempty"`
	QueryParams []string `json:"query_params,omitempty"`
}

// ConsumerConfig is a named consumer with API keys and/or Basic credentials.
type ConsumerConfig struct {
	Name  string       `json:"name"`
	Keys  []string     `json:"keys,omitempty"`
	Basic *BasicConfig `json:"basic,omitempty"`
}

// BasicConfig holds a hashed password: bcrypt, or SHA-256 of salt+password in hex. Plaintext is not accepted.
type BasicConfig struct {
	Username string `json:"username"`
	Bcrypt   string `json:"bcrypt,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	Salt     string `json:"salt,omitempty"`
}

// JWTConfig lists the accepted token issuers.
type JWTConfig struct {
	Providers []ProviderConfig `json:"providers"`
	// CacheSize bounds the cache of verified tokens (entries).
	CacheSize int `json:"cache_size,omitempty"`
}

// ProviderConfig is one issuer.
type ProviderConfig struct {
	Name       string                 `json:"name"`
	Issuer     string                 `json:"issuer"`
	Audiences  []string               `json:"audiences,omitempty"`
	Algorithms []string               `json:"algorithms,omitempty"`
	JWKS       json.RawMessage        `json:"jwks,omitempty"`
	RemoteJWKS *RemoteJWKSConfig      `json:"remote_jwks,omitempty"`
	From       []TokenSource          `json:"from,omitempty"`
	ClockSkew  *pluginconfig.Duration `json:"clock_skew,omitempty"`
	// ClaimsToHeaders forwards selected claims upstream; client-supplied values of these headers are removed.
	ClaimsToHeaders []ClaimHeader `json:"claims_to_headers,omitempty"`
	ForwardToken    bool          `json:"forward_token,omitempty"`
	ConsumerClaim   string        `json:"consumer_claim,omitempty"`
}

// RemoteJWKSConfig fetches the key set with DispatchHttpCall through a cluster of the proxy.
type RemoteJWKSConfig struct {
	Cluster   string `json:"cluster"`
	Path      string `json:"path"`
	Authority string `json:"authority,omitempty"`
	// RefreshInterval is how often the set is fetched again.
	RefreshInterval pluginconfig.Duration `json:"refresh_interval,omitempty"`
	// RetryInterval is how soon a failed fetch is retried.
	RetryInterval pluginconfig.Duration `json:"retry_interval,omitempty"`
	Timeout       pluginconfig.Duration `json:"timeout,omitempty"`
	// UnknownKIDInterval is the least time between two fetches caused by tokens with an unknown kid, so that a
	// client sending random kids cannot turn the filter into a load generator against the issuer.
	UnknownKIDInterval pluginconfig.Duration `json:"unknown_kid_interval,omitempty"`
}

// TokenSource is one place to look for a token: a header (with an optional prefix), a query parameter or a cookie.
type TokenSource struct {
	Header string `json:"header,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Query  string `json:"query,omitempty"`
	Cookie string `json:"cookie,omitempty"`
}

// ClaimHeader copies one claim to one request header.
type ClaimHeader struct {
	Claim  string `json:"claim"`
	Header string `json:"header"`
}

// RuleConfig allows some identities on the requests it matches. The first matching rule decides.
type RuleConfig struct {
	Name  string        `json:"name"`
	Match match.Request `json:"match"`
	Allow PolicyConfig  `json:"allow"`
}

// PolicyConfig names who is allowed: consumers by name ("*" = any authenticated), JWT claims with accepted values
// (every listed claim must carry one of its values), and whether requests without credentials pass.
type PolicyConfig struct {
	Consumers []string            `json:"consumers,omitempty"`
	Claims    map[string][]string `json:"claims,omitempty"`
	Anonymous bool                `json:"anonymous,omitempty"`
}
