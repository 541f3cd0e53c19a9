package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash/maphash"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wasmesh/wasmesh/filters/internal/lru"
	"github.com/wasmesh/wasmesh/filters/internal/request"
	"github.com/wasmesh/wasmesh/filters/internal/tokenbucket"
)

// Decision is what the adapter does with a request.
type Decision struct {
	// Status is 0 to let the request through, 401 or 403 to answer locally.
	Status   int
	Consumer string
	Method   string // "jwt", "basic", "api_key" or "anonymous"
	// Reason explains a denial for the log line; it never reaches the client.
	Reason string
	// Remove and Set are applied to the request headers (Remove first).
	Remove []string
	Set    [][2]string
	// Challenges are WWW-Authenticate values sent with a 401.
	Challenges []string
	// FetchProvider >= 0 asks the adapter to pause the stream, fetch that provider's JWKS and decide again.
	FetchProvider int
	// RetryAfter goes with status 429: when a cold password check may be tried again.
	RetryAfter time.Duration
}

// state is the mutable side of the filter: caches and remotely fetched key sets. A proxy-wasm VM runs one callback
// at a time, so it needs no locking.
type state struct {
	seed   maphash.Seed
	tokens *lru.Cache[tokenEntry]
	basic  *lru.Cache[basicEntry]
	failed *lru.Cache[failedEntry]
	// guard holds the buckets limiting cold bcrypt checks: shared data in the filter, so the limit is proxy-wide.
	guard        tokenbucket.Store
	guardBuf     []byte
	keys         []*keySet // per provider; inline sets are installed at start
	gen          uint64
	setBuf       [][2]string // reused by Decide so a request allocates no header list
	removeBuf    []string
	inflight     []bool
	lastKIDFetch []time.Time
}

type tokenEntry struct {
	token    string
	provider int
	id       *identity
}

type basicEntry struct {
	digest   [sha256.Size]byte
	consumer string
}

// failedEntry remembers a wrong user:password until its deadline (Unix ns).
type failedEntry struct {
	digest [sha256.Size]byte
	until  int64
}

// authenticator is the pure-Go core: configuration plus state, no host calls.
type authenticator struct {
	cfg *policyConfig
	st  *state
}

func newAuthenticator(cfg *policyConfig) *authenticator {
	st := &state{
		seed:         maphash.MakeSeed(),
		tokens:       lru.New[tokenEntry](max(cfg.jwtCacheSize, 1)),
		basic:        lru.New[basicEntry](cfg.basicCacheSize),
		failed:       lru.New[failedEntry](cfg.negativeSize),
		guard:        tokenbucket.NewMemStore(), // per VM until the adapter installs shared data
		keys:         make([]*keySet, len(cfg.providers)),
		inflight:     make([]bool, len(cfg.providers)),
		lastKIDFetch: make([]time.Time, len(cfg.providers)),
		gen:          1,
	}
	for i, p := range cfg.providers {
		st.keys[i] = p.inline
	}
	return &authenticator{cfg: cfg, st: st}
}

// installKeys replaces a provider's key set, so tokens verified with the old set are verified again.
func (a *authenticator) installKeys(provider int, keys []verificationKey) {
	a.st.gen++
	a.st.keys[provider] = &keySet{keys: keys, gen: a.st.gen}
}

var errBadCredentials = errors.New("bad credentials")

// throttledError is a Basic check refused because cold checks are over their limit.
type throttledError struct {
	scope string // "proxy-wide" or `user "bob"`
	retry time.Duration
}

func (e *throttledError) Error() string {
	return "too many uncached password checks (" + e.scope + "); retry in " + e.retry.String()
}

// Decide authenticates and authorizes r. now is only called when a token's times must be checked, because reading
// the clock is a host call in Wasm. The Set and Remove slices of the result are reused by the next Decide: apply
// them first.
func (a *authenticator) Decide(r *request.Request, now func() time.Time) Decision {
	d := a.decide(r, now)
	a.st.setBuf = d.Set[:0]
	if len(d.Remove) > len(a.cfg.alwaysRemove) {
		a.st.removeBuf = d.Remove[:0]
	}
	return d
}

func (a *authenticator) decide(r *request.Request, now func() time.Time) Decision {
	d := Decision{FetchProvider: -1, Remove: a.cfg.alwaysRemove, Set: a.st.setBuf[:0]}
	pol := a.policyFor(r)

	consumer, claims, method, removeSrc, setSrc, err := a.authenticate(r, now, &d)
	if d.FetchProvider >= 0 {
		return d
	}
	if removeSrc != "" {
		// Never append into the shared alwaysRemove array: copy it into the reused buffer.
		d.Remove = append(append(a.st.removeBuf[:0], d.Remove...), removeSrc)
	}
	if setSrc[0] != "" {
		d.Set = append(d.Set, setSrc)
	}
	// A type assertion, not errors.As: checkBasic returns the error unwrapped, and errors.As's target would escape to
	// the heap on every request.
	throttled, isThrottled := err.(*throttledError)
	switch {
	case isThrottled:
		d.Status = 429
		d.Reason = method + ": " + err.Error()
		d.RetryAfter = throttled.retry
		return d
	case err != nil:
		d.Status = 401
		d.Reason = method + ": " + err.Error()
		d.Challenges = a.challenges(method == "jwt")
		return d
	case method == "":
		if pol.anonymous {
			d.Method = "anonymous"
			return d
		}
		d.Status = 401
		d.Reason = "no credentials"
		d.Challenges = a.cfg.challenges
		return d
	}
	d.Method, d.Consumer = method, consumer
	if !pol.allows(consumer, claims) {
		d.Status = 403
		d.Reason = method + ": consumer " + quote(consumer) + " is not allowed by " + ruleName(pol, a)
		return d
	}
	if consumer != "" {
		d.Set = append(d.Set, [2]string{a.cfg.consumerHeader, consumer})
	}
	return d
}

func (a *authenticator) challenges(invalidToken bool) []string {
	if !invalidToken {
		return a.cfg.challenges
	}
	out := make([]string, 0, len(a.cfg.challenges))
	for _, c := range a.cfg.challenges {
		if strings.HasPrefix(c, "Bearer ") {
			c += `, error="invalid_token"`
		}
		out = append(out, c)
	}
	return out
}

func quote(s string) string { return `"` + s + `"` }

func ruleName(p *policy, a *authenticator) string {
	for i := range a.cfg.rules {
		if &a.cfg.rules[i].policy == p {
			return "rule " + quote(a.cfg.rules[i].name)
		}
	}
	return "the default policy"
}

func (a *authenticator) policyFor(r *request.Request) *policy {
	for i := range a.cfg.rules {
		if a.cfg.rules[i].matcher.Match(r) {
			return &a.cfg.rules[i].policy
		}
	}
	return &a.cfg.def
}

func (p *policy) allows(consumer string, claims map[string]any) bool {
	if p.anyConsumer || (consumer != "" && p.consumers[consumer]) {
		return true
	}
	if len(p.claims) == 0 || claims == nil {
		return false
	}
	for _, req := range p.claims {
		ok := false
		for _, v := range req.values {
			if claimHas(claims[req.claim], v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// authenticate finds credentials in r and checks them. method is "" when r carries none. removeSrc names the
// header the credentials came from when they must not be forwarded; setSrc rewrites :path or cookie to drop them.
func (a *authenticator) authenticate(r *request.Request, clock func() time.Time, d *Decision) (consumer string, claims map[string]any, method, removeSrc string, setSrc [2]string, err error) {
	if tok, p, src, ok := a.findToken(r); ok {
		method = "jwt"
		now := clock()
		if !p.forward {
			removeSrc, setSrc = stripSource(r, src)
		}
		id, err := a.verifyToken(p, tok, now)
		if err != nil && errors.Is(err, errUnknownKID) && a.mayFetch(p, now) {
			d.FetchProvider = p.index
			return "", nil, method, "", setSrc, nil
		}
		if err != nil {
			return "", nil, method, removeSrc, setSrc, err
		}
		d.Set = append(d.Set, id.headers...)
		return id.consumer, id.claims, method, removeSrc, setSrc, nil
	}
	if len(a.cfg.basic) > 0 {
		if v, ok := r.Header("authorization"); ok && hasPrefixFold(v, "Basic ") {
			if !a.cfg.forwardCreds {
				removeSrc = "authorization"
			}
			c, err := a.checkBasic(v, clock)
			return c, nil, "basic", removeSrc, setSrc, err
		}
	}
	if len(a.cfg.apiKeys) > 0 {
		for _, h := range a.cfg.apiKeyHeaders {
			if v, ok := r.Header(h); ok {
				if !a.cfg.forwardCreds {
					removeSrc = h
				}
				c, ok := a.cfg.apiKeys[v]
				if !ok {
					return "", nil, "api_key", removeSrc, setSrc, errBadCredentials
				}
				return c, nil, "api_key", removeSrc, setSrc, nil
			}
		}
		for _, q := range a.cfg.apiKeyQuery {
			if v, ok := r.Query(q); ok {
				if !a.cfg.forwardCreds {
					removeSrc, setSrc = stripSource(r, TokenSource{Query: q})
				}
				c, ok := a.cfg.apiKeys[v]
				if !ok {
					return "", nil, "api_key", removeSrc, setSrc, errBadCredentials
				}
				return c, nil, "api_key", removeSrc, setSrc, nil
			}
		}
	}
	return "", nil, "", "", setSrc, nil
}

// findToken returns the first token a provider's sources find. When several providers find one, the unverified
// issuer picks among them (the signature is verified afterwards with the chosen provider's keys).
func (a *authenticator) findToken(r *request.Request) (string, *provider, TokenSource, bool) {
	var (
		first    *provider
		firstTok string
		firstSrc TokenSource
		multi    bool
	)
	for _, p := range a.cfg.providers {
		for _, s := range p.sources {
			tok, ok := extract(r, s)
			if !ok {
				continue
			}
			if first == nil {
				first, firstTok, firstSrc = p, tok, s
			} else {
				multi = true
			}
			break
		}
	}
	if first == nil || !multi {
		return firstTok, first, firstSrc, first != nil
	}
	iss := peekIssuer(firstTok)
	for _, p := range a.cfg.providers {
		if p.issuer != iss {
			continue
		}
		for _, s := range p.sources {
			if tok, ok := extract(r, s); ok {
				return tok, p, s, true
			}
		}
	}
	return firstTok, first, firstSrc, true
}

func extract(r *request.Request, s TokenSource) (string, bool) {
	switch {
	case s.Header != "":
		v, ok := r.Header(s.Header)
		if !ok {
			return "", false
		}
		if s.Prefix != "" {
			if !hasPrefixFold(v, s.Prefix) {
				return "", false
			}
			v = v[len(s.Prefix):]
		}
		if v != "" && (v[0] <= ' ' || v[len(v)-1] <= ' ') { // the call costs more in Wasm than this check
			v = strings.TrimSpace(v)
		}
		return v, v != ""
	case s.Query != "":
		v, ok := r.Query(s.Query)
		return v, ok && v != ""
	default:
		v, ok := r.Cookie(s.Cookie)
		return v, ok && v != ""
	}
}

// hasPrefixFold reports whether s starts with prefix, ignoring case. Clients send the canonical spelling of
// "Bearer " and "Basic " almost always, so that is compared first: in Wasm strings.EqualFold is a call and a loop.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && (s[:len(prefix)] == prefix || strings.EqualFold(s[:len(prefix)], prefix))
}

// stripSource says how to drop credentials taken from src: remove a header, or rewrite :path / cookie.
func stripSource(r *request.Request, src TokenSource) (remove string, set [2]string) {
	switch {
	case src.Header != "":
		return src.Header, set
	case src.Query != "":
		return "", [2]string{":path", pathWithout(r, src.Query)}
	default:
		return "", [2]string{"cookie", cookieWithout(r, src.Cookie)}
	}
}

func pathWithout(r *request.Request, param string) string {
	var kept []string
	for _, part := range strings.Split(r.RawQuery, "&") {
		k, _, _ := strings.Cut(part, "=")
		if k != param && part != "" {
			kept = append(kept, part)
		}
	}
	if len(kept) == 0 {
		return r.Path
	}
	return r.Path + "?" + strings.Join(kept, "&")
}

func cookieWithout(r *request.Request, name string) string {
	var kept []string
	for _, h := range r.Headers {
		if h[0] != "cookie" {
			continue
		}
		for _, part := range strings.Split(h[1], ";") {
			part = strings.TrimSpace(part)
			k, _, _ := strings.Cut(part, "=")
			if k != name && part != "" {
				kept = append(kept, part)
			}
		}
	}
	return strings.Join(kept, "; ")
}

// verifyToken checks a token, using the cache of verified tokens first.
func (a *authenticator) verifyToken(p *provider, token string, now time.Time) (*identity, error) {
	if len(token) > maxTokenSize {
		return nil, errors.New("token larger than 16 KiB")
	}
	h := maphash.String(a.st.seed, token)
	keys := a.st.keys[p.index]
	if e, ok := a.st.tokens.Get(h); ok && sameToken(e.token, token) && e.provider == p.index && keys != nil && e.id.gen == keys.gen {
		if err := p.checkTime(e.id, now); err != nil {
			a.st.tokens.Remove(h)
			return nil, err
		}
		return e.id, nil
	}
	id, err := p.verify(token, keys, now)
	if err != nil {
		return nil, err
	}
	// A copy: token points into the bytes the host returned, which the bridge may share with other results.
	a.st.tokens.Put(h, tokenEntry{token: strings.Clone(token), provider: p.index, id: id})
	return id, nil
}

// mayFetch reports whether an unknown kid may trigger a JWKS fetch now: always while one is in flight (the stream
// waits for it), otherwise at most once per unknown_kid_interval.
func (a *authenticator) mayFetch(p *provider, now time.Time) bool {
	if p.remote == nil {
		return false
	}
	if a.st.inflight[p.index] {
		return true
	}
	last := a.st.lastKIDFetch[p.index]
	return last.IsZero() || now.Sub(last) >= p.remote.unknownKIDInterval
}

// checkBasic verifies an "Authorization: Basic" value. Successful verifications are cached by a hash of the whole
// header value so a warm request costs one SHA-256 instead of a bcrypt. Failures are cached too, for negative_ttl,
// so a client repeating a wrong password pays no bcrypt; and bcrypt checks that reach the hash at all are limited
// per user name and proxy-wide, so new wrong passwords cannot keep the VMs busy. clock is read only on a miss.
func (a *authenticator) checkBasic(header string, clock func() time.Time) (string, error) {
	if len(header) > 4096 {
		return "", errors.New("authorization header too long")
	}
	h := maphash.String(a.st.seed, header)
	digest := sha256.Sum256([]byte(header))
	if e, ok := a.st.basic.Get(h); ok && subtle.ConstantTimeCompare(e.digest[:], digest[:]) == 1 {
		return e.consumer, nil
	}
	now := clock().UnixNano()
	if e, ok := a.st.failed.Get(h); ok && subtle.ConstantTimeCompare(e.digest[:], digest[:]) == 1 {
		if now < e.until {
			return "", errBadCredentials
		}
		a.st.failed.Remove(h)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len("basic "):]))
	if err != nil {
		return "", errors.New("malformed Basic credentials")
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", errors.New("malformed Basic credentials")
	}
	cred, ok := a.cfg.basic[user]
	if !ok {
		return "", errBadCredentials
	}
	if cred.bcrypt != nil {
		if err := a.admitCold(user, now); err != nil {
			return "", err
		}
		if bcrypt.CompareHashAndPassword(cred.bcrypt, []byte(pass)) != nil {
			a.st.failed.Put(h, failedEntry{digest: digest, until: now + int64(a.cfg.negativeTTL)})
			return "", errBadCredentials
		}
	} else {
		sum := sha256.Sum256([]byte(cred.salt + pass))
		if subtle.ConstantTimeCompare(sum[:], cred.sha256) != 1 {
			a.st.failed.Put(h, failedEntry{digest: digest, until: now + int64(a.cfg.negativeTTL)})
			return "", errBadCredentials
		}
	}
	a.st.failed.Remove(h)
	a.st.basic.Put(h, basicEntry{digest: digest, consumer: cred.consumer})
	return cred.consumer, nil
}

// Shared-data keys of the cold-check buckets; user names come from the configuration, so the keys are bounded.
const (
	coldKeyAll  = "wasmesh.auth/basic-cold"
	coldKeyUser = "wasmesh.auth/basic-cold/"
	coldRetries = 8
)

// admitCold takes a token for one bcrypt check from the user's bucket, then from the proxy-wide one (in that order,
// so a client hammering one account is stopped by its bucket without draining everyone's). If shared data fails,
// the check goes ahead: refusing every cold login would be worse than the cost.
func (a *authenticator) admitCold(user string, now int64) error {
	v, err := tokenbucket.TakeAt(a.st.guard, coldKeyUser+user, a.cfg.coldConsumer, now, coldRetries, &a.st.guardBuf)
	if err == nil && !v.Allowed {
		return &throttledError{scope: "user " + quote(user), retry: v.Reset}
	}
	v, err = tokenbucket.TakeAt(a.st.guard, coldKeyAll, a.cfg.coldAll, now, coldRetries, &a.st.guardBuf)
	if err == nil && !v.Allowed {
		return &throttledError{scope: "proxy-wide", retry: v.Reset}
	}
	return nil
}

// peekIssuer reads iss from a token without verifying it; only used to choose which provider verifies.
func peekIssuer(token string) string {
	_, rest, ok := strings.Cut(token, ".")
	if !ok {
		return ""
	}
	payload, _, _ := strings.Cut(rest, ".")
	if len(payload) > maxTokenSize {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if jsonUnmarshal(b, &c) != nil {
		return ""
	}
	return c.Iss
}
