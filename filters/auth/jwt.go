package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxTokenSize bounds what is parsed at all; real tokens are a few KiB.
const maxTokenSize = 16 << 10

var (
	errUnknownKID   = errors.New("not in the JWKS")
	errTokenExpired = errors.New("token expired")
)

// supportedAlgs are the signature algorithms the filter verifies; "none" is never among them.
var supportedAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA, jose.HS256, jose.HS384, jose.HS512,
}

// verificationKey is one usable key of a JWKS.
type verificationKey struct {
	kid string
	alg jose.SignatureAlgorithm // "" when the JWK does not pin one
	key any                     // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
	// notAfter is the end of the key's X.509 certificate (x5c), zero without one.
	notAfter time.Time
}

// keySet is an immutable, parsed JWKS; a refresh replaces it whole.
type keySet struct {
	keys []verificationKey
	gen  uint64 // changes on every replacement, so cached tokens verified with older keys are re-checked
}

// parseJWKS parses a JWKS document. With strict, a bad key is an error naming it (inline configuration); without,
// bad keys are skipped and reported in skipped (remote sets, where one unsupported key must not hide the others).
func parseJWKS(doc []byte, strict bool) (keys []verificationKey, skipped []string, err error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, nil, fmt.Errorf("not a JWKS document: %v", err)
	}
	if set.Keys == nil {
		return nil, nil, errors.New(`not a JWKS document: no "keys" array`)
	}
	for i, raw := range set.Keys {
		k, err := parseJWK(raw)
		if err != nil {
			if strict {
				return nil, nil, fmt.Errorf("keys[%d]: %v", i, err)
			}
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, skipped, errors.New("JWKS holds no usable key")
	}
	return keys, skipped, nil
}

func parseJWK(raw []byte) (verificationKey, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		return verificationKey{}, err
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return verificationKey{}, fmt.Errorf("kid %q: use %q is not \"sig\"", jwk.KeyID, jwk.Use)
	}
	k := verificationKey{kid: jwk.KeyID, alg: jose.SignatureAlgorithm(jwk.Algorithm)}
	switch key := jwk.Key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey, []byte:
		k.key = key
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		// A private key in a JWKS is a leak waiting to happen; refuse it so the operator notices.
		return verificationKey{}, fmt.Errorf("kid %q: private key material in a JWKS; publish only public keys", jwk.KeyID)
	default:
		return verificationKey{}, fmt.Errorf("kid %q: unsupported key type %T", jwk.KeyID, jwk.Key)
	}
	if k.alg != "" && !isSupported(k.alg) {
		return verificationKey{}, fmt.Errorf("kid %q: unsupported alg %q", jwk.KeyID, k.alg)
	}
	if len(jwk.Certificates) > 0 {
		k.notAfter = jwk.Certificates[0].NotAfter
	}
	return k, nil
}

func isSupported(alg jose.SignatureAlgorithm) bool {
	for _, a := range supportedAlgs {
		if a == alg {
			return true
		}
	}
	return false
}

// keyFits reports whether alg may be verified with key. This is what stops algorithm confusion: an RSA public key
// is never used as an HMAC secret, an HMAC secret never for RS256, and a P-256 key only for ES256.
func keyFits(alg jose.SignatureAlgorithm, k verificationKey) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return key.Curve == elliptic.P256()
		case jose.ES384:
			return key.Curve == elliptic.P384()
		case jose.ES512:
			return key.Curve == elliptic.P521()
		}
		return false
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	case []byte:
		return strings.HasPrefix(string(alg), "HS")
	}
	return false
}

// identity is what a verified token proves; it is cached and must not be modified after creation.
type identity struct {
	consumer  string
	claims    map[string]any
	headers   [][2]string // claims_to_headers, computed once
	notBefore time.Time
	expires   time.Time
	gen       uint64
}

// verify checks the token's signature with keys, then its registered claims. It returns errUnknownKID when the
// token names a kid the set does not hold, so the caller may fetch the set again.
func (p *provider) verify(token string, keys *keySet, now time.Time) (*identity, error) {
	jws, err := jose.ParseSignedCompact(token, p.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed or disallowed token: %v", trimJose(err))
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("token must carry exactly one signature")
	}
	hdr := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	var payload []byte
	tried := 0
	if keys != nil {
		for _, k := range keys.keys {
			if (hdr.KeyID != "" && k.kid != hdr.KeyID) || !keyFits(alg, k) {
				continue
			}
			if !k.notAfter.IsZero() && now.After(k.notAfter) {
				continue // the key's certificate has expired: the key is retired
			}
			tried++
			if pl, err := jws.Verify(k.key); err == nil {
				payload = pl
				break
			}
		}
	}
	if payload == nil {
		if tried == 0 {
			if keys == nil || (hdr.KeyID != "" && !keys.hasKID(hdr.KeyID)) {
				return nil, fmt.Errorf("kid %q %w", hdr.KeyID, errUnknownKID)
			}
			return nil, fmt.Errorf("no key fits alg %s (kid %q)", alg, hdr.KeyID)
		}
		return nil, errors.New("signature does not verify")
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, errors.New("claims are not a JSON object")
	}
	id := &identity{claims: claims}
	if iss, _ := claims["iss"].(string); iss != p.issuer {
		return nil, fmt.Errorf("issuer %q is not %q", iss, p.issuer)
	}
	if len(p.audiences) > 0 && !audienceOK(claims["aud"], p.audiences) {
		return nil, errors.New("audience not accepted")
	}
	exp, ok := numericDate(claims["exp"])
	if !ok {
		return nil, errors.New("exp claim missing or not a number")
	}
	id.expires = exp
	if nbf, present := claims["nbf"]; present {
		t, ok := numericDate(nbf)
		if !ok {
			return nil, errors.New("nbf claim is not a number")
		}
		id.notBefore = t
	}
	if err := p.checkTime(id, now); err != nil {
		return nil, err
	}
	if p.consumerClaim != "" {
		id.consumer, _ = claims[p.consumerClaim].(string)
	}
	for _, ch := range p.claimHeaders {
		if v, ok := claimString(claims[ch.Claim]); ok {
			id.headers = append(id.headers, [2]string{ch.Header, v})
		}
	}
	if keys != nil {
		id.gen = keys.gen
	}
	return id, nil
}

// checkTime applies exp and nbf with the provider's clock skew.
func (p *provider) checkTime(id *identity, now time.Time) error {
	if now.After(id.expires.Add(p.skew)) {
		return errTokenExpired
	}
	if !id.notBefore.IsZero() && now.Add(p.skew).Before(id.notBefore) {
		return errors.New("token not valid yet (nbf)")
	}
	return nil
}

func (ks *keySet) hasKID(kid string) bool {
	if ks == nil {
		return false
	}
	for _, k := range ks.keys {
		if k.kid == kid {
			return true
		}
	}
	return false
}

func numericDate(v any) (time.Time, bool) {
	f, ok := v.(float64)
	if !ok || f < 0 || f > 1e12 {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

func audienceOK(aud any, accepted []string) bool {
	switch a := aud.(type) {
	case string:
		return contains(accepted, a)
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && contains(accepted, s) {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// claimString renders a claim as a header value: strings as they are, numbers and booleans in JSON form, lists
// joined by commas, objects as compact JSON. Values with control characters are refused (header injection).
func claimString(v any) (string, bool) {
	var s string
	switch c := v.(type) {
	case nil:
		return "", false
	case string:
		s = c
	case float64:
		s = strconv.FormatFloat(c, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(c)
	case []any:
		parts := make([]string, 0, len(c))
		for _, e := range c {
			if p, ok := claimString(e); ok {
				parts = append(parts, p)
			}
		}
		s = strings.Join(parts, ",")
	default:
		b, err := json.Marshal(c)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return "", false
		}
	}
	return s, true
}

// claimHas reports whether claim value v carries want: equal strings, an element of a list, or a word of a
// space-separated string (the OAuth "scope" convention).
func claimHas(v any, want string) bool {
	switch c := v.(type) {
	case string:
		if c == want {
			return true
		}
		for _, w := range strings.Fields(c) {
			if w == want {
				return true
			}
		}
	case []any:
		for _, e := range c {
			if s, ok := e.(string); ok && s == want {
				return true
			}
		}
	case float64, bool:
		s, _ := claimString(c)
		return s == want
	}
	return false
}

// trimJose removes the library's prefix from its error text for shorter log lines.
func trimJose(err error) string {
	return strings.TrimPrefix(err.Error(), "go-jose/go-jose: ")
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
