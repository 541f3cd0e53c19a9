package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"

	"github.com/wasmesh/wasmesh/filters/internal/match"
	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/tokenbucket"
)

// Defaults; README.md lists them too.
const (
	defaultConsumerHeader     = "x-wasmesh-consumer"
	defaultRealm              = "wasmesh"
	defaultAPIKeyHeader       = "x-api-key"
	defaultCacheSize          = 1024
	defaultClockSkew          = 60 * time.Second
	defaultRefreshInterval    = 5 * time.Minute
	defaultRetryInterval      = 10 * time.Second
	defaultFetchTimeout       = 5 * time.Second
	defaultUnknownKIDInterval = 30 * time.Second
	maxCacheSize              = 1 << 20
	defaultNegativeTTL        = 30 * time.Second
	maxNegativeTTL            = time.Hour
)

// Default limits on cold bcrypt checks. One check at cost 10 takes 0.2–0.7 s in the guest, so two per second
// proxy-wide keep failed logins to about one core's worth at worst; one per second per user name keeps a client
// guessing one account from spending the proxy-wide budget.
var (
	defaultColdChecks            = RateConfig{Requests: 2, Per: "second", Burst: 4}
	defaultColdChecksPerConsumer = RateConfig{Requests: 1, Per: "second", Burst: 2}
)

// policyConfig is the compiled, immutable configuration. Caches and fetched key sets live in *state.
type policyConfig struct {
	consumerHeader string
	realm          string
	forwardCreds   bool
	apiKeyHeaders  []string
	apiKeyQuery    []string
	apiKeys        map[string]string // key -> consumer
	basic          map[string]*basicCred
	providers      []*provider
	rules          []rule
	def            policy
	basicCacheSize int
	jwtCacheSize   int
	// negativeSize and negativeTTL size the cache of failed Basic credentials; coldAll and coldConsumer limit
	// bcrypt checks proxy-wide and per user name.
	negativeSize          int
	negativeTTL           time.Duration
	coldAll, coldConsumer tokenbucket.Rate
	// alwaysRemove are headers a client must never set: the consumer header and every claims_to_headers target.
	alwaysRemove []string
	challenges   []string // WWW-Authenticate values for missing credentials
}

type basicCred struct {
	consumer string
	bcrypt   []byte
	sha256   []byte
	salt     string
}

type provider struct {
	index         int
	name          string
	issuer        string
	audiences     []string
	algs          []jose.SignatureAlgorithm
	sources       []TokenSource
	skew          time.Duration
	claimHeaders  []ClaimHeader
	forward       bool
	consumerClaim string
	inline        *keySet
	remote        *remoteJWKS
}

type remoteJWKS struct {
	cluster, path, authority string
	refresh, retry, timeout  time.Duration
	unknownKIDInterval       time.Duration
}

type rule struct {
	name    string
	matcher match.RequestMatcher
	policy  policy
}

type policy struct {
	anyConsumer bool
	consumers   map[string]bool
	claims      []claimRequirement
	anonymous   bool
}

type claimRequirement struct {
	claim  string
	values []string
}

var headerName = regexp.MustCompile(`^[a-z0-9!#$%&'*+.^_|~-]+$`)

// compile validates cfg and builds the immutable policy; errors name the field.
func compile(cfg *Config) (*policyConfig, error) {
	pc := &policyConfig{
		consumerHeader: strings.ToLower(cfg.ConsumerHeader),
		realm:          cfg.Realm,
		forwardCreds:   cfg.ForwardCredentials,
		apiKeys:        map[string]string{},
		basic:          map[string]*basicCred{},
		basicCacheSize: cfg.BasicCacheSize,
	}
	if pc.consumerHeader == "" {
		pc.consumerHeader = defaultConsumerHeader
	}
	if err := checkHeaderName("consumer_header", pc.consumerHeader); err != nil {
		return nil, err
	}
	if pc.realm == "" {
		pc.realm = defaultRealm
	}
	if strings.ContainsAny(pc.realm, "\"\\\r\n") {
		return nil, pluginconfig.Errorf("realm", "must not contain quotes, backslashes or line breaks")
	}
	if pc.basicCacheSize == 0 {
		pc.basicCacheSize = defaultCacheSize
	}
	if pc.basicCacheSize < 0 || pc.basicCacheSize > maxCacheSize {
		return nil, pluginconfig.Errorf("basic_cache_size", "must be between 1 and %d", maxCacheSize)
	}
	if err := pc.compileBasicGuard(cfg.BasicGuard); err != nil {
		return nil, err
	}
	pc.alwaysRemove = []string{pc.consumerHeader}

	if err := pc.compileConsumers(cfg); err != nil {
		return nil, err
	}
	if err := pc.compileJWT(cfg.JWT); err != nil {
		return nil, err
	}
	if len(pc.apiKeys) == 0 && len(pc.basic) == 0 && len(pc.providers) == 0 {
		return nil, pluginconfig.Errorf("consumers", "no credentials configured: add consumers with keys or basic, or jwt.providers")
	}
	for i, rc := range cfg.Rules {
		r, err := compileRule(pluginconfig.Index("rules", i), rc)
		if err != nil {
			return nil, err
		}
		pc.rules = append(pc.rules, r)
	}
	if cfg.Default != nil {
		p, err := compilePolicy("default", *cfg.Default)
		if err != nil {
			return nil, err
		}
		pc.def = p
	} else {
		pc.def = policy{anyConsumer: true}
	}
	if len(pc.providers) > 0 {
		pc.challenges = append(pc.challenges, `Bearer realm="`+pc.realm+`"`)
	}
	if len(pc.basic) > 0 {
		pc.challenges = append(pc.challenges, `Basic realm="`+pc.realm+`", charset="UTF-8"`)
	}
	if len(pc.apiKeys) > 0 {
		pc.challenges = append(pc.challenges, `APIKey realm="`+pc.realm+`"`)
	}
	return pc, nil
}

func checkHeaderName(field, name string) error {
	if !headerName.MatchString(name) {
		return pluginconfig.Errorf(field, "%q is not a lowercase HTTP header name", name)
	}
	return nil
}

func (pc *policyConfig) compileConsumers(cfg *Config) error {
	if cfg.APIKey != nil {
		for i, h := range cfg.APIKey.Headers {
			h = strings.ToLower(h)
			if err := checkHeaderName(pluginconfig.Index("api_key.headers", i), h); err != nil {
				return err
			}
			pc.apiKeyHeaders = append(pc.apiKeyHeaders, h)
		}
		for i, q := range cfg.APIKey.QueryParams {
			if q == "" {
				return pluginconfig.Errorf(pluginconfig.Index("api_key.query_params", i), "must not be empty")
			}
			pc.apiKeyQuery = append(pc.apiKeyQuery, q)
		}
		if len(pc.apiKeyHeaders) == 0 && len(pc.apiKeyQuery) == 0 {
			return pluginconfig.Errorf("api_key", "set headers or query_params")
		}
	} else {
		pc.apiKeyHeaders = []string{defaultAPIKeyHeader}
	}
	names := map[string]bool{}
	for i, c := range cfg.Consumers {
		field := pluginconfig.Index("consumers", i)
		if c.Name == "" {
			return pluginconfig.Errorf(pluginconfig.Field(field, "name"), "must not be empty")
		}
		if strings.ContainsFunc(c.Name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return pluginconfig.Errorf(pluginconfig.Field(field, "name"), "must not contain control characters")
		}
		if names[c.Name] {
			return pluginconfig.Errorf(pluginconfig.Field(field, "name"), "duplicate consumer %q", c.Name)
		}
		names[c.Name] = true
		if c.Keys == nil && c.Basic == nil {
			return pluginconfig.Errorf(field, "set keys or basic: consumer %q has no credentials", c.Name)
		}
		if c.Keys != nil && len(c.Keys) == 0 {
			return pluginconfig.Errorf(pluginconfig.Field(field, "keys"), "must not be empty")
		}
		for j, k := range c.Keys {
			kf := pluginconfig.Index(pluginconfig.Field(field, "keys"), j)
			if len(k) < 8 {
				return pluginconfig.Errorf(kf, "must be at least 8 characters")
			}
			if other, dup := pc.apiKeys[k]; dup {
				return pluginconfig.Errorf(kf, "key already belongs to consumer %q", other)
			}
			pc.apiKeys[k] = c.Name
		}
		if c.Basic != nil {
			if err := pc.compileBasic(pluginconfig.Field(field, "basic"), c.Name, c.Basic); err != nil {
				return err
			}
		}
	}
	return nil
}

func (pc *policyConfig) compileBasic(field, consumer string, b *BasicConfig) error {
	if b.Username == "" || strings.Contains(b.Username, ":") {
		return pluginconfig.Errorf(pluginconfig.Field(field, "username"), "must be non-empty and without ':'")
	}
	if _, dup := pc.basic[b.Username]; dup {
		return pluginconfig.Errorf(pluginconfig.Field(field, "username"), "duplicate username %q", b.Username)
	}
	cred := &basicCred{consumer: consumer, salt: b.Salt}
	switch {
	case b.Bcrypt != "" && b.SHA256 != "":
		return pluginconfig.Errorf(field, "set bcrypt or sha256, not both")
	case b.Bcrypt != "":
		if _, err := bcrypt.Cost([]byte(b.Bcrypt)); err != nil {
			return pluginconfig.Errorf(pluginconfig.Field(field, "bcrypt"), "not a bcrypt hash (generate one with `htpasswd -nbB user pass`): %v", err)
		}
		if b.Salt != "" {
			return pluginconfig.Errorf(pluginconfig.Field(field, "salt"), "only used with sha256; bcrypt hashes carry their own salt")
		}
		cred.bcrypt = []byte(b.Bcrypt)
	case b.SHA256 != "":
		sum, err := hex.DecodeString(b.SHA256)
		if err != nil || len(sum) != sha256.Size {
			return pluginconfig.Errorf(pluginconfig.Field(field, "sha256"), "must be 64 hex digits: sha256(salt + password)")
		}
		if len(b.Salt) < 8 {
			return pluginconfig.Errorf(pluginconfig.Field(field, "salt"), "must be at least 8 characters; unsalted hashes are refused")
		}
		cred.sha256 = sum
	default:
		return pluginconfig.Errorf(field, "set bcrypt or sha256 (plaintext passwords are not accepted)")
	}
	pc.basic[b.Username] = cred
	return nil
}

func (pc *policyConfig) compileBasicGuard(g *BasicGuardConfig) error {
	if g == nil {
		g = &BasicGuardConfig{}
	}
	const field = "basic_guard"
	f := func(n string) string { return pluginconfig.Field(field, n) }
	pc.negativeSize = g.NegativeCacheSize
	if pc.negativeSize == 0 {
		pc.negativeSize = defaultCacheSize
	}
	if pc.negativeSize < 0 || pc.negativeSize > maxCacheSize {
		return pluginconfig.Errorf(f("negative_cache_size"), "must be between 1 and %d", maxCacheSize)
	}
	pc.negativeTTL = g.NegativeTTL.Or(defaultNegativeTTL)
	if pc.negativeTTL < time.Second || pc.negativeTTL > maxNegativeTTL {
		return pluginconfig.Errorf(f("negative_ttl"), "must be between 1s and 1h")
	}
	var err error
	if pc.coldAll, err = compileRate(f("cold_checks"), g.ColdChecks, defaultColdChecks); err != nil {
		return err
	}
	pc.coldConsumer, err = compileRate(f("cold_checks_per_consumer"), g.ColdChecksPerConsumer, defaultColdChecksPerConsumer)
	return err
}

var ratePeriods = map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour}

func compileRate(field string, rc *RateConfig, def RateConfig) (tokenbucket.Rate, error) {
	if rc == nil {
		rc = &def
	}
	per, ok := ratePeriods[rc.Per]
	if !ok {
		return tokenbucket.Rate{}, pluginconfig.Errorf(pluginconfig.Field(field, "per"), "%q is not one of second, minute, hour", rc.Per)
	}
	if rc.Requests == 0 || rc.Requests > 1e6 {
		return tokenbucket.Rate{}, pluginconfig.Errorf(pluginconfig.Field(field, "requests"), "must be between 1 and 1e6")
	}
	if rc.Burst > 1e6 {
		return tokenbucket.Rate{}, pluginconfig.Errorf(pluginconfig.Field(field, "burst"), "at most 1e6")
	}
	return tokenbucket.NewRate(rc.Requests, per, rc.Burst), nil
}

func (pc *policyConfig) compileJWT(j *JWTConfig) error {
	if j == nil {
		return nil
	}
	if len(j.Providers) == 0 {
		return pluginconfig.Errorf("jwt.providers", "must not be empty")
	}
	pc.jwtCacheSize = j.CacheSize
	if pc.jwtCacheSize == 0 {
		pc.jwtCacheSize = defaultCacheSize
	}
	if pc.jwtCacheSize < 0 || pc.jwtCacheSize > maxCacheSize {
		return pluginconfig.Errorf("jwt.cache_size", "must be between 1 and %d", maxCacheSize)
	}
	names := map[string]bool{}
	for i, c := range j.Providers {
		field := pluginconfig.Index("jwt.providers", i)
		p, err := compileProvider(field, i, c)
		if err != nil {
			return err
		}
		if names[p.name] {
			return pluginconfig.Errorf(pluginconfig.Field(field, "name"), "duplicate provider %q", p.name)
		}
		names[p.name] = true
		pc.providers = append(pc.providers, p)
		for _, ch := range p.claimHeaders {
			if !contains(pc.alwaysRemove, ch.Header) {
				pc.alwaysRemove = append(pc.alwaysRemove, ch.Header)
			}
		}
	}
	return nil
}

func compileProvider(field string, index int, c ProviderConfig) (*provider, error) {
	f := func(name string) string { return pluginconfig.Field(field, name) }
	p := &provider{index: index, name: c.Name, issuer: c.Issuer, audiences: c.Audiences, forward: c.ForwardToken,
		consumerClaim: c.ConsumerClaim}
	if p.name == "" {
		p.name = fmt.Sprintf("provider%d", index)
	}
	if p.issuer == "" {
		return nil, pluginconfig.Errorf(f("issuer"), "must not be empty")
	}
	if p.consumerClaim == "" {
		p.consumerClaim = "sub"
	}
	p.skew = defaultClockSkew
	if c.ClockSkew != nil {
		p.skew = time.Duration(*c.ClockSkew)
		if p.skew > time.Hour {
			return nil, pluginconfig.Errorf(f("clock_skew"), "at most 1h")
		}
	}
	if len(c.Algorithms) == 0 {
		p.algs = supportedAlgs
	}
	for i, a := range c.Algorithms {
		alg := jose.SignatureAlgorithm(a)
		if !isSupported(alg) {
			return nil, pluginconfig.Errorf(pluginconfig.Index(f("algorithms"), i), "%q is not one of RS256/384/512, PS256/384/512, ES256/384/512, EdDSA, HS256/384/512", a)
		}
		p.algs = append(p.algs, alg)
	}
	switch {
	case len(c.JWKS) > 0 && c.RemoteJWKS != nil:
		return nil, pluginconfig.Errorf(field, "set jwks or remote_jwks, not both")
	case len(c.JWKS) > 0:
		keys, _, err := parseJWKS(c.JWKS, true)
		if err != nil {
			return nil, pluginconfig.Errorf(f("jwks"), "%v", err)
		}
		p.inline = &keySet{keys: keys, gen: 1}
	case c.RemoteJWKS != nil:
		r := c.RemoteJWKS
		if r.Cluster == "" {
			return nil, pluginconfig.Errorf(f("remote_jwks.cluster"), "must not be empty")
		}
		if !strings.HasPrefix(r.Path, "/") {
			return nil, pluginconfig.Errorf(f("remote_jwks.path"), "must start with /")
		}
		p.remote = &remoteJWKS{cluster: r.Cluster, path: r.Path, authority: r.Authority,
			refresh: r.RefreshInterval.Or(defaultRefreshInterval), retry: r.RetryInterval.Or(defaultRetryInterval),
			timeout: r.Timeout.Or(defaultFetchTimeout), unknownKIDInterval: r.UnknownKIDInterval.Or(defaultUnknownKIDInterval)}
		if p.remote.authority == "" {
			p.remote.authority = r.Cluster
		}
		if p.remote.refresh < time.Second || p.remote.retry < time.Second {
			return nil, pluginconfig.Errorf(f("remote_jwks"), "refresh_interval and retry_interval must be at least 1s")
		}
		if p.remote.timeout > time.Minute {
			return nil, pluginconfig.Errorf(f("remote_jwks.timeout"), "at most 1m")
		}
	default:
		return nil, pluginconfig.Errorf(field, "set jwks (inline) or remote_jwks")
	}
	p.sources = c.From
	if len(p.sources) == 0 {
		p.sources = []TokenSource{{Header: "authorization", Prefix: "Bearer "}}
	}
	for i := range p.sources {
		s := &p.sources[i]
		sf := pluginconfig.Index(f("from"), i)
		set := 0
		for _, v := range []string{s.Header, s.Query, s.Cookie} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			return nil, pluginconfig.Errorf(sf, "set exactly one of header, query or cookie")
		}
		if s.Prefix != "" && s.Header == "" {
			return nil, pluginconfig.Errorf(pluginconfig.Field(sf, "prefix"), "only applies to header")
		}
		s.Header = strings.ToLower(s.Header)
		if s.Header != "" {
			if err := checkHeaderName(pluginconfig.Field(sf, "header"), s.Header); err != nil {
				return nil, err
			}
		}
	}
	for i, ch := range c.ClaimsToHeaders {
		cf := pluginconfig.Index(f("claims_to_headers"), i)
		if ch.Claim == "" {
			return nil, pluginconfig.Errorf(pluginconfig.Field(cf, "claim"), "must not be empty")
		}
		ch.Header = strings.ToLower(ch.Header)
		if err := checkHeaderName(pluginconfig.Field(cf, "header"), ch.Header); err != nil {
			return nil, err
		}
		p.claimHeaders = append(p.claimHeaders, ch)
	}
	return p, nil
}

func compileRule(field string, rc RuleConfig) (rule, error) {
	r := rule{name: rc.Name}
	if r.name == "" {
		return rule{}, pluginconfig.Errorf(pluginconfig.Field(field, "name"), "must not be empty")
	}
	var err error
	if r.matcher, err = rc.Match.Compile(pluginconfig.Field(field, "match")); err != nil {
		return rule{}, err
	}
	r.policy, err = compilePolicy(pluginconfig.Field(field, "allow"), rc.Allow)
	return r, err
}

func compilePolicy(field string, pc PolicyConfig) (policy, error) {
	p := policy{anonymous: pc.Anonymous, consumers: map[string]bool{}}
	for i, c := range pc.Consumers {
		if c == "*" {
			p.anyConsumer = true
			continue
		}
		if c == "" {
			return policy{}, pluginconfig.Errorf(pluginconfig.Index(pluginconfig.Field(field, "consumers"), i), "must not be empty")
		}
		// Names that are not configured consumers may be JWT subjects, so they are allowed.
		p.consumers[c] = true
	}
	for claim, values := range pc.Claims {
		if claim == "" || len(values) == 0 {
			return policy{}, pluginconfig.Errorf(pluginconfig.Field(field, "claims"), "claim %q needs a non-empty list of accepted values", claim)
		}
		p.claims = append(p.claims, claimRequirement{claim: claim, values: values})
	}
	return p, nil
}
