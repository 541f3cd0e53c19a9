package main

import (
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"

	"github.com/wasmesh/wasmesh/filters/internal/match"
	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
)

const defaultMaxMetrics = 1024

// router is the compiled, immutable configuration.
type router struct {
	routes     []route
	maxMetrics int
}

type route struct {
	name                            string
	service, method, version, group match.Matcher
	attachments                     []attachmentMatcher
	cluster                         string
	weighted                        []weighted
	total                           uint64
	hashAttachment                  string
	canaries                        []canary
	rename                          [][2]string // sorted for a stable order
	remove                          []string
	set                             [][2]string
	// clusters are the distinct clusters the route can pick (Decision.Choice indexes them), with their bytes for
	// the upstream_cluster property: computed once here, so a request neither converts nor hashes a cluster name.
	clusters     []string
	clusterBytes [][]byte
}

type attachmentMatcher struct {
	name string
	m    match.Matcher
}

type weighted struct {
	cluster string
	upTo    uint64 // cumulative weight
	choice  int    // index in route.clusters
}

type canary struct {
	attachment string
	m          match.Matcher
	cluster    string
	choice     int // index in route.clusters
}

var (
	clusterName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	routeName   = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
	attachName  = regexp.MustCompile(`^[a-z0-9!#$%&'*+.^_|~-]{1,128}$`)
)

func compile(cfg *Config) (*router, error) {
	rt := &router{maxMetrics: cfg.MaxMetrics}
	if rt.maxMetrics == 0 {
		rt.maxMetrics = defaultMaxMetrics
	}
	if rt.maxMetrics < 1 || rt.maxMetrics > 1<<16 {
		return nil, pluginconfig.Errorf("max_metrics", "must be between 1 and 65536")
	}
	if len(cfg.Routes) == 0 {
		return nil, pluginconfig.Errorf("routes", "must not be empty")
	}
	names := map[string]bool{}
	for i, rc := range cfg.Routes {
		r, err := compileRoute(pluginconfig.Index("routes", i), rc)
		if err != nil {
			return nil, err
		}
		if names[r.name] {
			return nil, pluginconfig.Errorf(pluginconfig.Field(pluginconfig.Index("routes", i), "name"), "duplicate route %q", r.name)
		}
		names[r.name] = true
		rt.routes = append(rt.routes, r)
	}
	return rt, nil
}

func compileRoute(field string, rc RouteConfig) (route, error) {
	f := func(n string) string { return pluginconfig.Field(field, n) }
	r := route{name: rc.Name, cluster: rc.Cluster, hashAttachment: strings.ToLower(rc.HashAttachment)}
	if !routeName.MatchString(r.name) {
		return route{}, pluginconfig.Errorf(f("name"), "%q: use 1-64 of a-z, 0-9, _ and - (it names the metrics)", r.name)
	}
	var err error
	mf := f("match")
	for _, m := range []struct {
		dst  *match.Matcher
		src  *match.String
		name string
	}{{&r.service, rc.Match.Service, "service"}, {&r.method, rc.Match.Method, "method"},
		{&r.version, rc.Match.Version, "version"}, {&r.group, rc.Match.Group, "group"}} {
		if *m.dst, err = match.Optional(m.src, pluginconfig.Field(mf, m.name)); err != nil {
			return route{}, err
		}
	}
	for i, am := range rc.Match.Attachments {
		af := pluginconfig.Index(pluginconfig.Field(mf, "attachments"), i)
		name, err := attachment(pluginconfig.Field(af, "name"), am.Name, true)
		if err != nil {
			return route{}, err
		}
		m, err := am.String.Compile(af)
		if err != nil {
			return route{}, err
		}
		r.attachments = append(r.attachments, attachmentMatcher{name: name, m: m})
	}
	switch {
	case rc.Cluster != "" && len(rc.WeightedClusters) > 0:
		return route{}, pluginconfig.Errorf(field, "set cluster or weighted_clusters, not both")
	case rc.Cluster != "":
		if !clusterName.MatchString(rc.Cluster) {
			return route{}, pluginconfig.Errorf(f("cluster"), "%q is not a cluster name", rc.Cluster)
		}
	case len(rc.WeightedClusters) > 0:
		for i, w := range rc.WeightedClusters {
			wf := pluginconfig.Index(f("weighted_clusters"), i)
			if !clusterName.MatchString(w.Cluster) {
				return route{}, pluginconfig.Errorf(pluginconfig.Field(wf, "cluster"), "%q is not a cluster name", w.Cluster)
			}
			r.total += uint64(w.Weight)
			r.weighted = append(r.weighted, weighted{cluster: w.Cluster, upTo: r.total})
		}
		if r.total == 0 {
			return route{}, pluginconfig.Errorf(f("weighted_clusters"), "weights must add up to more than 0")
		}
	default:
		return route{}, pluginconfig.Errorf(field, "set cluster or weighted_clusters")
	}
	if r.hashAttachment != "" {
		if len(r.weighted) == 0 {
			return route{}, pluginconfig.Errorf(f("hash_attachment"), "only used with weighted_clusters")
		}
		if _, err := attachment(f("hash_attachment"), r.hashAttachment, true); err != nil {
			return route{}, err
		}
	}
	for i, c := range rc.Canaries {
		cf := pluginconfig.Index(f("canaries"), i)
		name, err := attachment(pluginconfig.Field(cf, "attachment"), c.Attachment, true)
		if err != nil {
			return route{}, err
		}
		m, err := c.String.Compile(cf)
		if err != nil {
			return route{}, err
		}
		if !clusterName.MatchString(c.Cluster) {
			return route{}, pluginconfig.Errorf(pluginconfig.Field(cf, "cluster"), "%q is not a cluster name", c.Cluster)
		}
		r.canaries = append(r.canaries, canary{attachment: name, m: m, cluster: c.Cluster})
	}
	if e := rc.Attachments; e != nil {
		af := f("attachments")
		for from, to := range e.Rename {
			a, err := attachment(pluginconfig.Field(af, "rename"), from, false)
			if err != nil {
				return route{}, err
			}
			b, err := attachment(pluginconfig.Field(af, "rename"), to, false)
			if err != nil {
				return route{}, err
			}
			r.rename = append(r.rename, [2]string{a, b})
		}
		sort.Slice(r.rename, func(i, j int) bool { return r.rename[i][0] < r.rename[j][0] })
		for i, name := range e.Remove {
			a, err := attachment(pluginconfig.Index(pluginconfig.Field(af, "remove"), i), name, false)
			if err != nil {
				return route{}, err
			}
			r.remove = append(r.remove, a)
		}
		for name, v := range e.Set {
			a, err := attachment(pluginconfig.Field(af, "set"), name, false)
			if err != nil {
				return route{}, err
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return route{}, pluginconfig.Errorf(pluginconfig.Field(af, "set"), "value of %q must not contain line breaks", name)
			}
			r.set = append(r.set, [2]string{a, v})
		}
		sort.Slice(r.set, func(i, j int) bool { return r.set[i][0] < r.set[j][0] })
	}
	r.choice(r.cluster)
	for i := range r.weighted {
		r.weighted[i].choice = r.choice(r.weighted[i].cluster)
	}
	for i := range r.canaries {
		r.canaries[i].choice = r.choice(r.canaries[i].cluster)
	}
	return r, nil
}

// choice returns the index of cluster in r.clusters, adding it when new; "" is no cluster.
func (r *route) choice(cluster string) int {
	if cluster == "" {
		return -1
	}
	for i, c := range r.clusters {
		if c == cluster {
			return i
		}
	}
	r.clusters = append(r.clusters, cluster)
	r.clusterBytes = append(r.clusterBytes, []byte(cluster))
	return len(r.clusters) - 1
}

// attachment validates an attachment name. Reserved headers (pseudo headers, x-dubbo-*) carry the invocation and
// may be matched but never edited.
func attachment(field, name string, readOnly bool) (string, error) {
	n := strings.ToLower(name)
	if !readOnly && request.IsReservedDubboHeader(n) {
		return "", pluginconfig.Errorf(field, "%q is reserved for the invocation, not an attachment", name)
	}
	if !attachName.MatchString(strings.TrimPrefix(n, ":")) {
		return "", pluginconfig.Errorf(field, "%q is not a valid attachment name", name)
	}
	return n, nil
}

// Decision is the routing outcome for one request.
type Decision struct {
	Route   int    // index into routes; -1 when no route matched (the route's default cluster is kept)
	Cluster string // "" when no route matched
	Choice  int    // index of Cluster in the route's clusters
	Canary  bool
}

// Decide picks the route and cluster for r. Non-Dubbo requests and unmatched ones get Route -1. rnd is used for
// weighted choices without a hash attachment.
func (rt *router) Decide(r *request.Request, rnd func(n uint64) uint64) Decision {
	if !r.Dubbo {
		return Decision{Route: -1}
	}
	for i := range rt.routes {
		ro := &rt.routes[i]
		if !ro.matches(r) {
			continue
		}
		for j := range ro.canaries {
			c := &ro.canaries[j]
			if v, ok := r.Header(c.attachment); ok && c.m.Match(v) {
				return Decision{Route: i, Cluster: c.cluster, Choice: c.choice, Canary: true}
			}
		}
		if ro.cluster != "" {
			return Decision{Route: i, Cluster: ro.cluster} // the route's first choice
		}
		var pick uint64
		if v, ok := r.Header(ro.hashAttachment); ok && ro.hashAttachment != "" {
			pick = fnv64a(v) % ro.total
		} else {
			pick = rnd(ro.total)
		}
		for _, w := range ro.weighted {
			if pick < w.upTo {
				return Decision{Route: i, Cluster: w.cluster, Choice: w.choice}
			}
		}
	}
	return Decision{Route: -1}
}

// randomN is the default source for weighted choices: math/rand/v2's runtime-seeded ChaCha8 generator.
func randomN(n uint64) uint64 { return rand.Uint64N(n) }

func (ro *route) matches(r *request.Request) bool {
	if !ro.service.Match(r.Service) || !ro.method.Match(r.DubboMethod) || !ro.version.Match(r.Version) || !ro.group.Match(r.Group) {
		return false
	}
	for i := range ro.attachments {
		a := &ro.attachments[i]
		v, ok := r.Header(a.name)
		if !ok || !a.m.Match(v) {
			return false
		}
	}
	return true
}

// edit applies the attachment changes of route i to the request through remove and set, renames first, then
// removals, then sets. Callbacks instead of returned lists keep the request path free of allocations.
func (rt *router) edit(i int, r *request.Request, remove func(name string), set func(name, value string)) {
	ro := &rt.routes[i]
	for _, rn := range ro.rename {
		if v, ok := r.Header(rn[0]); ok {
			remove(rn[0])
			set(rn[1], v)
		}
	}
	for _, name := range ro.remove {
		if _, ok := r.Header(name); ok {
			remove(name)
		}
	}
	for _, kv := range ro.set {
		set(kv[0], kv[1])
	}
}

// fnv64a hashes a sticky attachment value without allocating (hash/fnv would escape to the heap).
func fnv64a(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
