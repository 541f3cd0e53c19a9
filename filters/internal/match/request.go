package match

import (
	"regexp"
	"strings"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
	"github.com/wasmesh/wasmesh/filters/internal/request"
)

// Request is the JSON form of a request selector shared by the filters' rules. Every set condition must hold;
// Service and DubboMethod only match Dubbo requests. The zero Request matches every request.
type Request struct {
	// Hosts are exact hosts (without port) or "*.example.com" suffixes.
	Hosts       []string `json:"hosts,omitempty"`
	PathPrefix  string   `json:"path_prefix,omitempty"`
	PathRegex   string   `json:"path_regex,omitempty"`
	Methods     []string `json:"methods,omitempty"`
	Service     *String  `json:"service,omitempty"`
	DubboMethod *String  `json:"dubbo_method,omitempty"`
}

// RequestMatcher is a compiled Request.
type RequestMatcher struct {
	hosts       []string
	pathPrefix  string
	pathRegex   *regexp.Regexp
	methods     []string
	service     Matcher
	dubboMethod Matcher
	dubboOnly   bool
}

// Compile validates c; field names it in errors.
func (c Request) Compile(field string) (RequestMatcher, error) {
	m := RequestMatcher{pathPrefix: c.PathPrefix}
	for i, h := range c.Hosts {
		if h == "" {
			return RequestMatcher{}, pluginconfig.Errorf(pluginconfig.Index(pluginconfig.Field(field, "hosts"), i), "must not be empty")
		}
		m.hosts = append(m.hosts, strings.ToLower(h))
	}
	if c.PathRegex != "" {
		re, err := Regexp(pluginconfig.Field(field, "path_regex"), c.PathRegex)
		if err != nil {
			return RequestMatcher{}, err
		}
		m.pathRegex = re
	}
	for _, meth := range c.Methods {
		m.methods = append(m.methods, strings.ToUpper(meth))
	}
	var err error
	if m.service, err = Optional(c.Service, pluginconfig.Field(field, "service")); err != nil {
		return RequestMatcher{}, err
	}
	if m.dubboMethod, err = Optional(c.DubboMethod, pluginconfig.Field(field, "dubbo_method")); err != nil {
		return RequestMatcher{}, err
	}
	m.dubboOnly = c.Service != nil || c.DubboMethod != nil
	return m, nil
}

// Headers names the request headers Match reads, so that a filter can fetch just those from the host instead of the
// whole map; all is true when it needs the whole map (Dubbo conditions read the method, the x-dubbo-* headers and
// the path).
func (m *RequestMatcher) Headers() (names []string, all bool) {
	if m.dubboOnly {
		return nil, true
	}
	if len(m.hosts) > 0 {
		names = append(names, ":authority", "host")
	}
	if m.pathPrefix != "" || m.pathRegex != nil {
		names = append(names, ":path")
	}
	if len(m.methods) > 0 {
		names = append(names, ":method")
	}
	return names, false
}

// Match reports whether r is selected.
func (m *RequestMatcher) Match(r *request.Request) bool {
	if m.dubboOnly && !r.Dubbo {
		return false
	}
	if len(m.hosts) > 0 && !hostMatches(m.hosts, r.Authority) {
		return false
	}
	if m.pathPrefix != "" && !strings.HasPrefix(r.Path, m.pathPrefix) {
		return false
	}
	if m.pathRegex != nil && !m.pathRegex.MatchString(r.Path) {
		return false
	}
	if len(m.methods) > 0 {
		ok := false
		for _, meth := range m.methods {
			if meth == r.Method || strings.EqualFold(meth, r.Method) { // methods are upper case, almost always sent so
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return m.service.Match(r.Service) && m.dubboMethod.Match(r.DubboMethod)
}

func hostMatches(hosts []string, host string) bool {
	for _, h := range hosts {
		if h == host || h == "*" || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return true
		}
	}
	return false
}
