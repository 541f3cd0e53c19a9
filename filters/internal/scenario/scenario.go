// Package scenario reads a filter's scenarios (testdata/scenarios.json) and runs them against the filter in the
// proxytest host emulator. The same files are run as compiled Wasm in wasmesh's host by test/filters in the root
// module, so the format below is the contract between the two runners; keep it data only.
//
//	func TestScenarios(t *testing.T) {
//		scenario.Run(t, "testdata/scenarios.json", func() types.VMContext { return &vmContext{} })
//	}
//
// Format (JSON):
//
//	{"fixtures": "tokens.json",            // optional: name -> string, substituted for ${name} in strings
//	 "scenarios": [{
//	   "name": "...",
//	   "config": {...} | "config_file": "../../../samples/filters/auth.json"    // relative to the scenarios file
//	     | "config_text": "{not json",                                         // raw bytes, for malformed input
//	   "expect_start": "ok" | "failed",     // OnPluginStart result, default ok
//	   "expect_logs": ["substring", ...],   // logged while starting
//	   "properties": {"source.address": "10.0.0.1:5000"},                       // set before every step
//	   "steps": [
//	     {"request": {"headers": [["k","v"]], "properties": {...}}, "repeat": 1, "expect": {...}},
//	     {"response": {"headers": [[":status","200"]]}, "expect": {...}},      // response of the last stream
//	     {"callout": {"cluster": "jwks", "path": "/keys", "status": 200, "body": "..."}, "expect": {...}},
//	     {"tick": true, "sleep": "1100ms", "expect": {...}}                      // sleep: before the step
//	   ],
//	   "metrics": {"name": 3}}]}
//
// Request steps check the stream they start; callout and response steps check the last stream when their expect
// block mentions it. An expect block holds: action ("continue" | "pause"), status (local response code), local_headers,
// headers / absent_headers (request headers sent upstream), response_headers, properties / absent_properties,
// callouts (number of new HTTP calls dispatched: [{"cluster": "...", "path": "..."}]) and logs (substrings of
// log lines written during the step). Expected values are exact, "*" for any value, or "re:<RE2>" for a pattern.
// Strings may use ${name} (from fixtures) and ${repeat:TEXT:N} (TEXT repeated N times, for huge headers);
// ${raw:name} inserts a fixture as JSON, outside a string (a JWKS object in a config).
package scenario

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// File is one scenarios.json.
type File struct {
	Fixtures  string     `json:"fixtures,omitempty"`
	Scenarios []Scenario `json:"scenarios"`
}

// Scenario is one plugin configuration and the steps run against it.
type Scenario struct {
	Name        string            `json:"name"`
	Config      json.RawMessage   `json:"config,omitempty"`
	ConfigFile  string            `json:"config_file,omitempty"`
	ConfigText  string            `json:"config_text,omitempty"`
	ExpectStart string            `json:"expect_start,omitempty"`
	ExpectLogs  []string          `json:"expect_logs,omitempty"`
	Properties  map[string]string `json:"properties,omitempty"`
	Steps       []Step            `json:"steps,omitempty"`
	Metrics     map[string]uint64 `json:"metrics,omitempty"`
}

// Step is one event delivered to the plugin.
type Step struct {
	Name     string    `json:"name,omitempty"`
	Request  *Request  `json:"request,omitempty"`
	Response *Response `json:"response,omitempty"`
	Callout  *Callout  `json:"callout,omitempty"`
	Tick     bool      `json:"tick,omitempty"`
	// Sleep waits this long (a Go duration, at most 5s) before the step, for intervals measured by the filter.
	Sleep  string `json:"sleep,omitempty"`
	Repeat int    `json:"repeat,omitempty"`
	Expect Expect `json:"expect"`
}

// Request starts a new stream with these request headers.
type Request struct {
	Headers    [][2]string       `json:"headers"`
	Properties map[string]string `json:"properties,omitempty"`
}

// Response delivers response headers to the most recent stream.
type Response struct {
	Headers [][2]string `json:"headers"`
}

// Callout answers the oldest pending HTTP call dispatched to Cluster (and Path when set).
type Callout struct {
	Cluster string      `json:"cluster"`
	Path    string      `json:"path,omitempty"`
	Status  int         `json:"status"`
	Headers [][2]string `json:"headers,omitempty"`
	Body    string      `json:"body,omitempty"`
	// Fail answers with no headers at all, as a host does when the call times out or the cluster is down.
	Fail bool `json:"fail,omitempty"`
}

// Expect is checked after a step.
type Expect struct {
	Action           string            `json:"action,omitempty"`
	Status           int               `json:"status,omitempty"`
	LocalHeaders     map[string]string `json:"local_headers,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	AbsentHeaders    []string          `json:"absent_headers,omitempty"`
	ResponseHeaders  map[string]string `json:"response_headers,omitempty"`
	Properties       map[string]string `json:"properties,omitempty"`
	AbsentProperties []string          `json:"absent_properties,omitempty"`
	Callouts         []CalloutExpect   `json:"callouts,omitempty"`
	Logs             []string          `json:"logs,omitempty"`
}

// CalloutExpect describes an HTTP call the step must have dispatched.
type CalloutExpect struct {
	Cluster string `json:"cluster"`
	Path    string `json:"path,omitempty"`
}

// Load reads a scenarios file, resolves config_file and substitutes fixtures.
func Load(path string) (*File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: read %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	// The file is not JSON until ${raw:...} is expanded, so the fixtures name is found by pattern.
	fixtures := map[string]string{}
	if m := fixturesField.FindSubmatch(raw); m != nil {
		name := string(m[1])
		fb, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("scenario: fixtures of %s: %w", path, err)
		}
		if err := json.Unmarshal(fb, &fixtures); err != nil {
			return nil, fmt.Errorf("scenario: fixtures %s: %w", name, err)
		}
	}
	expanded, err := Expand(string(raw), fixtures)
	if err != nil {
		return nil, fmt.Errorf("scenario: %s: %w", path, err)
	}
	var f File
	if err := json.Unmarshal([]byte(expanded), &f); err != nil {
		return nil, fmt.Errorf("scenario: %s: %w", path, err)
	}
	for i := range f.Scenarios {
		s := &f.Scenarios[i]
		if s.ConfigFile != "" {
			cb, err := os.ReadFile(filepath.Join(dir, s.ConfigFile))
			if err != nil {
				return nil, fmt.Errorf("scenario %q: config_file: %w", s.Name, err)
			}
			s.Config = cb
		}
		if s.ConfigText != "" {
			s.Config = json.RawMessage(s.ConfigText)
		}
	}
	return &f, nil
}

var fixturesField = regexp.MustCompile(`"fixtures"\s*:\s*"([^"]+)"`)

var placeholder = regexp.MustCompile(`\$\{([^}]+)\}`)

// Expand substitutes ${name} from fixtures and ${repeat:TEXT:N}. The result is JSON-escaped, because it is pasted
// inside JSON strings.
func Expand(s string, fixtures map[string]string) (string, error) {
	var firstErr error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if rest, ok := strings.CutPrefix(name, "repeat:"); ok {
			i := strings.LastIndexByte(rest, ':')
			n, err := strconv.Atoi(rest[i+1:])
			if i < 0 || err != nil || n < 0 || n > 1<<22 {
				firstErr = fmt.Errorf("bad placeholder %s", m)
				return m
			}
			return strings.Repeat(rest[:i], n)
		}
		raw := strings.HasPrefix(name, "raw:")
		v, ok := fixtures[strings.TrimPrefix(name, "raw:")]
		if raw && ok {
			return v // inserted as JSON, e.g. a JWKS object
		}
		if !ok {
			firstErr = fmt.Errorf("placeholder %s: no such fixture", m)
			return m
		}
		b, _ := json.Marshal(v)
		return string(b[1 : len(b)-1])
	})
	return out, firstErr
}

// ValueMatches applies the expected-value rules: exact, "*" or "re:<RE2>".
func ValueMatches(want, got string) bool {
	switch {
	case want == "*":
		return true
	case strings.HasPrefix(want, "re:"):
		re, err := regexp.Compile("^(?:" + want[3:] + ")$")
		return err == nil && re.MatchString(got)
	default:
		return want == got
	}
}

// PropertyPath splits a dotted property name into the proxy-wasm path.
func PropertyPath(name string) []string { return strings.Split(name, ".") }
