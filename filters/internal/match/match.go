// Package match compiles the string matchers used in filter configurations: exact, prefix or regular expression,
// exactly one of them per matcher.
//
//	m, err := match.String{Prefix: "/admin"}.Compile("rules[0].path")
//	m.Match("/admin/users") // true
package match

import (
	"regexp"
	"strings"

	"github.com/wasmesh/wasmesh/filters/internal/pluginconfig"
)

// String is the JSON form of a matcher: {"exact": "x"}, {"prefix": "x"} or {"regex": "x"}. Regular expressions use
// RE2 syntax and must match the whole value (they are anchored when compiled).
type String struct {
	Exact  *string `json:"exact,omitempty"`
	Prefix string  `json:"prefix,omitempty"`
	Regex  string  `json:"regex,omitempty"`
}

// Matcher is a compiled String. The zero Matcher matches everything.
type Matcher struct {
	kind  kind
	value string
	re    *regexp.Regexp
}

type kind uint8

const (
	kindAny kind = iota
	kindExact
	kindPrefix
	kindRegex
)

// Compile validates s; field names the matcher in errors.
func (s String) Compile(field string) (Matcher, error) {
	set := 0
	if s.Exact != nil {
		set++
	}
	if s.Prefix != "" {
		set++
	}
	if s.Regex != "" {
		set++
	}
	if set != 1 {
		return Matcher{}, pluginconfig.Errorf(field, "set exactly one of exact, prefix or regex")
	}
	switch {
	case s.Exact != nil:
		return Matcher{kind: kindExact, value: *s.Exact}, nil
	case s.Prefix != "":
		return Matcher{kind: kindPrefix, value: s.Prefix}, nil
	default:
		re, err := Regexp(pluginconfig.Field(field, "regex"), s.Regex)
		if err != nil {
			return Matcher{}, err
		}
		return Matcher{kind: kindRegex, re: re}, nil
	}
}

// Regexp compiles a whole-value regular expression, reporting errors against field.
func Regexp(field, expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, pluginconfig.Errorf(field, "invalid regular expression: %v", err)
	}
	return re, nil
}

// Optional compiles s when it is set and returns the match-all Matcher when it is nil.
func Optional(s *String, field string) (Matcher, error) {
	if s == nil {
		return Matcher{}, nil
	}
	return s.Compile(field)
}

// Match reports whether v satisfies the matcher. The match-all and exact cases are small enough to be inlined where
// Match is called: in a Go-built Wasm guest a call costs more than the comparison (bench/filters.md, 2026-12-07).
func (m *Matcher) Match(v string) bool {
	switch m.kind {
	case kindAny:
		return true
	case kindExact:
		return v == m.value
	}
	return m.matchPattern(v)
}

func (m *Matcher) matchPattern(v string) bool {
	if m.kind == kindPrefix {
		return strings.HasPrefix(v, m.value)
	}
	return m.re.MatchString(v)
}

// IsAny reports whether the matcher matches everything (it was not configured).
func (m Matcher) IsAny() bool { return m.kind == kindAny }
