package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/wasmesh/wasmesh/filters/internal/match"
	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
	"github.com/wasmesh/wasmesh/filters/internal/tokenbucket"
)

const (
	defaultDomain        = "default"
	defaultConsumer      = "x-wasmesh-consumer"
	defaultMaxCASRetries = 8
	maxRules             = 64 // Decide reports applied rules in a uint64
	maxKeyValue          = 128
	defaultMaxBuckets    = 10000
	maxMaxBuckets        = 1 << 20
	// probes is how many slots a key may occupy: its hash slot and the next three. More choices fill the table
	// further before a key overflows, at one more shared-data read per choice for keys that do not sit first.
	probes = 4
)

type keySource uint8

const (
	srcHeader keySource = iota
	srcQuery
	srcConsumer
	srcClientIP
	srcPath
	srcDubboService
	srcDubboMethod
)

var sources = map[string]keySource{
	"header": srcHeader, "query": srcQuery, "consumer": srcConsumer, "client_ip": srcClientIP, "path": srcPath,
	"dubbo_service": srcDubboService, "dubbo_method": srcDubboMethod,
}

type limiter struct {
	domain          string
	rules           []rule
	responseHeaders bool
	consumerHeader  string
	maxRetries      int
	store           tokenbucket.Store
	// needsClientIP is set when a rule counts by client IP; only then is source.address read from the host.
	needsClientIP bool
	// fetch names the only request headers the rules read, when they are few; nil means "read the whole map".
	fetch []string
	// keyBuf, ownerBuf, valBuf and ipBuf are reused by every request: a VM runs one callback at a time.
	keyBuf, ownerBuf, valBuf, ipBuf []byte
}

type rule struct {
	name      string
	match     *match.RequestMatcher
	source    keySource
	name2     string // header or query name
	limitKeys []limitKey
	prefix    string // bucket key prefix: domain and rule
	// slots is the size of the rule's table of per-value buckets (max_buckets).
	slots uint64
}

type limitKey struct {
	any    bool
	value  string
	regex  *regexp.Regexp
	prefix netip.Prefix
	shared bool
	rate   tokenbucket.Rate
	id     string // index, used in the bucket key
}

var ruleName = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

// compile validates cfg; errors name the field.
func compile(cfg *Config) (*limiter, error) {
	l := &limiter{domain: cfg.Domain, responseHeaders: cfg.ResponseHeaders, consumerHeader: strings.ToLower(cfg.ConsumerHeader),
		maxRetries: cfg.MaxCASRetries, keyBuf: make([]byte, 0, 256), ownerBuf: make([]byte, 0, 256), valBuf: make([]byte, 0, 256)}
	if l.domain == "" {
		l.domain = defaultDomain
	}
	if l.consumerHeader == "" {
		l.consumerHeader = defaultConsumer
	}
	if l.maxRetries == 0 {
		l.maxRetries = defaultMaxCASRetries
	}
	if l.maxRetries < 1 || l.maxRetries > 100 {
		return nil, pluginconfig.Errorf("max_cas_retries", "must be between 1 and 100")
	}
	maxBuckets, err := checkMaxBuckets("max_buckets", cfg.MaxBuckets, defaultMaxBuckets)
	if err != nil {
		return nil, err
	}
	if len(cfg.Rules) == 0 {
		return nil, pluginconfig.Errorf("rules", "must not be empty")
	}
	if len(cfg.Rules) > maxRules {
		return nil, pluginconfig.Errorf("rules", "at most %d rules", maxRules)
	}
	names := map[string]bool{}
	for i, rc := range cfg.Rules {
		field := pluginconfig.Index("rules", i)
		f := func(n string) string { return pluginconfig.Field(field, n) }
		if !ruleName.MatchString(rc.Name) {
			return nil, pluginconfig.Errorf(f("name"), "%q: use 1-64 of a-z, 0-9, _ and - (it names the metrics)", rc.Name)
		}
		if names[rc.Name] {
			return nil, pluginconfig.Errorf(f("name"), "duplicate rule %q", rc.Name)
		}
		names[rc.Name] = true
		r := rule{name: rc.Name, name2: rc.Key.Name, prefix: "wasmesh.ratelimit/" + l.domain + "/" + rc.Name + "/"}
		n, err := checkMaxBuckets(f("max_buckets"), rc.MaxBuckets, maxBuckets)
		if err != nil {
			return nil, err
		}
		r.slots = uint64(n)
		if rc.Match != nil {
			m, err := rc.Match.Compile(f("match"))
			if err != nil {
				return nil, err
			}
			r.match = &m
		}
		src, ok := sources[rc.Key.Source]
		if !ok {
			return nil, pluginconfig.Errorf(f("key.source"), "%q is not one of header, query, consumer, client_ip, path, dubbo_service, dubbo_method", rc.Key.Source)
		}
		r.source = src
		l.needsClientIP = l.needsClientIP || src == srcClientIP
		switch {
		case (src == srcHeader || src == srcQuery) && rc.Key.Name == "":
			return nil, pluginconfig.Errorf(f("key.name"), "must name the %s", rc.Key.Source)
		case src != srcHeader && src != srcQuery && rc.Key.Name != "":
			return nil, pluginconfig.Errorf(f("key.name"), "only used with source header or query")
		case src == srcHeader:
			r.name2 = strings.ToLower(rc.Key.Name)
		}
		if len(rc.LimitKeys) == 0 {
			return nil, pluginconfig.Errorf(f("limit_keys"), "must not be empty")
		}
		for j, lc := range rc.LimitKeys {
			lk, err := compileLimitKey(pluginconfig.Index(f("limit_keys"), j), lc, src)
			if err != nil {
				return nil, err
			}
			lk.id = strconv.Itoa(j)
			r.limitKeys = append(r.limitKeys, lk)
		}
		l.rules = append(l.rules, r)
	}
	l.fetch = l.headersToFetch()
	return l, nil
}

// maxFetch is how many single headers are fetched before reading the whole map is cheaper: one single-header call
// costs about half of a whole-map call on a small request in wasmesh's host (bench/filters.md), and real requests
// carry more headers than the benchmark's.
const maxFetch = 2

// headersToFetch returns the request headers the rules read, or nil when the whole map is needed or cheaper.
func (l *limiter) headersToFetch() []string {
	var names []string
	add := func(ns ...string) {
		for _, n := range ns {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	for _, ru := range l.rules {
		if ru.match != nil {
			ns, all := ru.match.Headers()
			if all {
				return nil
			}
			add(ns...)
		}
		switch ru.source {
		case srcHeader:
			add(ru.name2)
		case srcConsumer:
			add(l.consumerHeader)
		case srcQuery, srcPath:
			add(":path")
		case srcDubboService, srcDubboMethod:
			return nil
		}
	}
	if len(names) > maxFetch {
		return nil
	}
	if names == nil {
		names = []string{} // non-nil: client_ip rules alone read no header at all
	}
	return names
}

func checkMaxBuckets(field string, v, def int) (int, error) {
	switch {
	case v == 0:
		return def, nil
	case v < probes || v > maxMaxBuckets:
		return 0, pluginconfig.Errorf(field, "%d: must be between %d and %d", v, probes, maxMaxBuckets)
	}
	return v, nil
}

var periods = map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}

func compileLimitKey(field string, lc LimitKeyConfig, src keySource) (limitKey, error) {
	f := func(n string) string { return pluginconfig.Field(field, n) }
	lk := limitKey{shared: lc.Shared}
	set := 0
	for _, v := range []string{lc.Value, lc.Regex, lc.CIDR} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return limitKey{}, pluginconfig.Errorf(field, "set exactly one of value, regex or cidr")
	}
	switch {
	case lc.Value == "*":
		lk.any = true
	case lc.Value != "":
		lk.value = lc.Value
	case lc.Regex != "":
		re, err := match.Regexp(f("regex"), lc.Regex)
		if err != nil {
			return limitKey{}, err
		}
		lk.regex = re
	default:
		if src != srcClientIP {
			return limitKey{}, pluginconfig.Errorf(f("cidr"), "only applies to key.source client_ip")
		}
		p, err := netip.ParsePrefix(lc.CIDR)
		if err != nil {
			return limitKey{}, pluginconfig.Errorf(f("cidr"), "%v", err)
		}
		lk.prefix = p.Masked()
	}
	per, ok := periods[lc.Per]
	if !ok {
		return limitKey{}, pluginconfig.Errorf(f("per"), "%q is not one of second, minute, hour, day", lc.Per)
	}
	if lc.Requests == 0 || lc.Requests > 1e9 {
		return limitKey{}, pluginconfig.Errorf(f("requests"), "must be between 1 and 1e9")
	}
	if lc.Burst > 1e9 {
		return limitKey{}, pluginconfig.Errorf(f("burst"), "at most 1e9")
	}
	lk.rate = tokenbucket.NewRate(lc.Requests, per, lc.Burst)
	return lk, nil
}

// Result is the decision for one request.
type Result struct {
	Limited bool
	// Rule is the rule that limited the request or, when allowed, the applied rule with the least quota left.
	Rule      int
	Limit     uint64
	Remaining uint64
	Reset     time.Duration
	// Applied has bit i set when rule i counted the request; Denied when rule i limited it.
	Applied, Denied uint64
	// Overflowed has bit i set when rule i found no slot for the key's bucket and counted it in the rule's
	// overflow bucket instead.
	Overflowed uint64
	// StoreErrors counts buckets that could not be updated (the request was let through for them).
	StoreErrors int
}

// Decide counts r against every matching rule. All matching rules take a token, so a request limited by one rule
// still costs quota in the others (as Envoy's local and global limits do).
func (l *limiter) Decide(r *request.Request, now time.Time) (Result, error) {
	res := Result{Rule: -1}
	var firstErr error
	nowNs := now.UnixNano()
	for i := range l.rules {
		ru := &l.rules[i]
		if ru.match != nil && !ru.match.Match(r) {
			continue
		}
		value, ok := l.keyValue(ru, r)
		if !ok {
			continue
		}
		lk := ru.find(value, r.ClientIP)
		if lk == nil {
			continue
		}
		v, overflow, err := l.take(ru, lk, value, nowNs)
		if overflow {
			res.Overflowed |= 1 << i
		}
		if err != nil {
			res.StoreErrors++
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		res.Applied |= 1 << i
		switch {
		case !v.Allowed:
			res.Denied |= 1 << i
			if !res.Limited || v.Reset > res.Reset {
				res.Limited, res.Rule, res.Limit, res.Remaining, res.Reset = true, i, lk.rate.Requests, 0, v.Reset
			}
		case !res.Limited && (res.Rule < 0 || v.Remaining < res.Remaining):
			res.Rule, res.Limit, res.Remaining, res.Reset = i, lk.rate.Requests, v.Remaining, v.Reset
		}
	}
	return res, firstErr
}

// take takes a token from the bucket of value under ru's limit entry lk. A shared entry has one bucket at a fixed
// key. Otherwise the bucket lives in the rule's table of max_buckets slots: in the first of the value's probe slots
// that it already owns, or else in the first free one or the first whose bucket has refilled completely (reusing
// it changes no one's limit: a full bucket is what a new key gets). When every probe slot holds another key's live
// bucket, the value counts in the entry's overflow bucket, shared by all values that overflowed: the table stays
// bounded, and the limit gets stricter, never looser. Every write is a compare-and-swap on what was read.
func (l *limiter) take(ru *rule, lk *limitKey, value string, now int64) (v tokenbucket.Verdict, overflow bool, err error) {
	if lk.shared {
		v, err = tokenbucket.TakeAt(l.store, l.fixedKey(ru, lk, "shared"), lk.rate, now, l.maxRetries, &l.valBuf)
		return v, false, err
	}
	owner := append(l.ownerBuf[:0], lk.id...)
	owner = append(owner, '/')
	owner = appendValue(owner, value)
	l.ownerBuf = owner
	h := hash64(owner)
	for attempt := 0; attempt < l.maxRetries; attempt++ {
		target, targetCAS := uint64(0), uint32(0)
		found, own := false, false
		var cur tokenbucket.Bucket
		for i := uint64(0); i < probes; i++ {
			slot := (h + i) % ru.slots
			raw, cas, ok, err := l.store.Get(l.slotKey(ru, slot))
			if err != nil {
				return tokenbucket.Verdict{}, false, err
			}
			b, o, valid := tokenbucket.Decode(raw)
			switch {
			case valid && bytes.Equal(o, owner):
				target, targetCAS, found, own, cur = slot, cas, true, true, b
			case !ok || len(raw) == 0:
				// Never used: slots are not freed, so no key was ever placed past this one.
				if !found {
					target, targetCAS, found = slot, cas, true
				}
				i = probes
			case !found && (!valid || now >= b.Full):
				target, targetCAS, found = slot, cas, true
			}
			if own {
				break
			}
		}
		if !found {
			v, err = tokenbucket.TakeAt(l.store, l.fixedKey(ru, lk, "overflow"), lk.rate, now, l.maxRetries, &l.valBuf)
			return v, true, err
		}
		nb, v := lk.rate.Take(cur, own, now)
		if !v.Allowed {
			return v, false, nil // nothing was taken: the stored state stays valid
		}
		l.valBuf = nb.Append(l.valBuf[:0], owner)
		err := l.store.Set(l.slotKey(ru, target), l.valBuf, targetCAS)
		if err != nil {
			if errors.Is(err, tokenbucket.ErrCASMismatch) {
				continue
			}
			return tokenbucket.Verdict{}, false, err
		}
		return v, false, nil
	}
	return tokenbucket.Verdict{}, false, errors.New("rule " + ru.name + ": gave up after " + strconv.Itoa(l.maxRetries) + " CAS mismatches")
}

// slotKey is wasmesh.ratelimit/<domain>/<rule>/slot/<n>, built in a reused buffer: the string is only valid until
// the next key is built, which is enough for a host call that copies it.
func (l *limiter) slotKey(ru *rule, slot uint64) string {
	k := append(l.keyBuf[:0], ru.prefix...)
	k = append(k, "slot/"...)
	k = appendDecimal(k, slot)
	l.keyBuf = k
	return unsafe.String(unsafe.SliceData(k), len(k))
}

// appendDecimal is strconv.AppendUint(dst, n, 10) without its two calls, which cost more than the digits in Wasm.
func appendDecimal(dst []byte, n uint64) []byte {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(dst, buf[i:]...)
}

// fixedKey is wasmesh.ratelimit/<domain>/<rule>/<entry>/<kind>, in the same reused buffer as slotKey.
func (l *limiter) fixedKey(ru *rule, lk *limitKey, kind string) string {
	k := append(l.keyBuf[:0], ru.prefix...)
	k = append(k, lk.id...)
	k = append(k, '/')
	k = append(k, kind...)
	l.keyBuf = k
	return unsafe.String(unsafe.SliceData(k), len(k))
}

// hash64 is FNV-1a: the slot of a key must be the same in every VM, so the hash cannot have a per-process seed.
func hash64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// initSlots creates every slot of the rules' tables, and the shared and overflow buckets, as free entries, once per
// proxy (a marker records it). Creating is the one write proxy-wasm cannot make a compare-and-swap, so doing it up
// front, before this VM serves, keeps requests from racing on it; a slot missing later (shared data cleared) is
// still created on first use.
func (l *limiter) initSlots() (created int, err error) {
	create := func(key string) error {
		_, _, found, err := l.store.Get(key)
		if err != nil || found {
			return err
		}
		created++
		return l.store.Set(key, nil, 0)
	}
	for i := range l.rules {
		ru := &l.rules[i]
		marker := ru.prefix + "slots"
		want := strconv.FormatUint(ru.slots, 10)
		if v, _, found, err := l.store.Get(marker); err != nil {
			return created, err
		} else if found && string(v) == want {
			continue
		}
		for s := uint64(0); s < ru.slots; s++ {
			if err := create(l.slotKey(ru, s)); err != nil {
				return created, err
			}
		}
		for j := range ru.limitKeys {
			kind := "overflow"
			if ru.limitKeys[j].shared {
				kind = "shared"
			}
			if err := create(l.fixedKey(ru, &ru.limitKeys[j], kind)); err != nil {
				return created, err
			}
		}
		if err := l.store.Set(marker, []byte(want), 0); err != nil {
			return created, err
		}
	}
	return created, nil
}

func (l *limiter) keyValue(ru *rule, r *request.Request) (string, bool) {
	switch ru.source {
	case srcHeader:
		return r.Header(ru.name2)
	case srcQuery:
		return r.Query(ru.name2)
	case srcConsumer:
		v, ok := r.Header(l.consumerHeader)
		return v, ok && v != ""
	case srcClientIP:
		if !r.ClientIP.IsValid() {
			return "", false
		}
		// Formatted into a reused buffer: the value is only used until the bucket is taken.
		l.ipBuf = r.ClientIP.AppendTo(l.ipBuf[:0])
		return unsafe.String(unsafe.SliceData(l.ipBuf), len(l.ipBuf)), true
	case srcPath:
		return r.Path, r.Path != ""
	case srcDubboService:
		return r.Service, r.Dubbo && r.Service != ""
	case srcDubboMethod:
		return r.Service + "/" + r.DubboMethod, r.Dubbo && r.DubboMethod != ""
	}
	return "", false
}

// find returns the first limit key matching value.
func (ru *rule) find(value string, ip netip.Addr) *limitKey {
	for i := range ru.limitKeys {
		lk := &ru.limitKeys[i]
		switch {
		case lk.any:
		case lk.regex != nil:
			if !lk.regex.MatchString(value) {
				continue
			}
		case lk.prefix.IsValid():
			if !ip.IsValid() || !lk.prefix.Contains(ip) {
				continue
			}
		default:
			if lk.value != value {
				continue
			}
		}
		return lk
	}
	return nil
}

// appendValue adds the key value to a bucket key; long or unusual values are replaced by their SHA-256 so a client
// cannot create arbitrarily large shared-data keys.
func appendValue(dst []byte, v string) []byte {
	if len(v) <= maxKeyValue && printable(v) {
		return append(dst, v...)
	}
	sum := sha256.Sum256([]byte(v))
	dst = append(dst, "sha256:"...)
	return hex.AppendEncode(dst, sum[:16])
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
