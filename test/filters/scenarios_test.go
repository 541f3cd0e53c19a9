package filters

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The scenario format is defined (and documented) by filters/internal/scenario in the filters module, which this
// module cannot import; this is a second reader of the same data, kept to what the host runner needs.

type scenarioFile struct {
	Scenarios []scenario `json:"scenarios"`
}

type scenario struct {
	Name        string            `json:"name"`
	Config      json.RawMessage   `json:"config"`
	ConfigFile  string            `json:"config_file"`
	ConfigText  string            `json:"config_text"`
	ExpectStart string            `json:"expect_start"`
	ExpectLogs  []string          `json:"expect_logs"`
	Properties  map[string]string `json:"properties"`
	Steps       []step            `json:"steps"`
	Metrics     map[string]int64  `json:"metrics"`
}

type step struct {
	Name    string `json:"name"`
	Request *struct {
		Headers    [][2]string       `json:"headers"`
		Properties map[string]string `json:"properties"`
	} `json:"request"`
	Response *struct {
		Headers [][2]string `json:"headers"`
	} `json:"response"`
	Callout *struct {
		Cluster string      `json:"cluster"`
		Path    string      `json:"path"`
		Status  int         `json:"status"`
		Headers [][2]string `json:"headers"`
		Body    string      `json:"body"`
		Fail    bool        `json:"fail"`
	} `json:"callout"`
	Tick   bool   `json:"tick"`
	Sleep  string `json:"sleep"`
	Repeat int    `json:"repeat"`
	Expect expect `json:"expect"`
}

type expect struct {
	Action           string            `json:"action"`
	Status           int               `json:"status"`
	LocalHeaders     map[string]string `json:"local_headers"`
	Headers          map[string]string `json:"headers"`
	AbsentHeaders    []string          `json:"absent_headers"`
	ResponseHeaders  map[string]string `json:"response_headers"`
	Properties       map[string]string `json:"properties"`
	AbsentProperties []string          `json:"absent_properties"`
	Callouts         []struct {
		Cluster string `json:"cluster"`
		Path    string `json:"path"`
	} `json:"callouts"`
	Logs []string `json:"logs"`
}

func (e expect) aboutStream() bool {
	return e.Action != "" || e.Status != 0 || len(e.LocalHeaders) > 0 || len(e.Headers) > 0 || len(e.AbsentHeaders) > 0 ||
		len(e.ResponseHeaders) > 0 || len(e.Properties) > 0 || len(e.AbsentProperties) > 0
}

var (
	fixturesName = regexp.MustCompile(`"fixtures"\s*:\s*"([^"]+)"`)
	placeholders = regexp.MustCompile(`\$\{([^}]+)\}`)
)

// loadScenarios reads a scenarios file and expands ${fixture}, ${raw:fixture} and ${repeat:TEXT:N}.
func loadScenarios(path string) ([]scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	fixtures := map[string]string{}
	if m := fixturesName.FindSubmatch(raw); m != nil {
		b, err := os.ReadFile(filepath.Join(dir, string(m[1])))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &fixtures); err != nil {
			return nil, fmt.Errorf("%s: %w", m[1], err)
		}
	}
	var bad error
	text := placeholders.ReplaceAllStringFunc(string(raw), func(m string) string {
		name := m[2 : len(m)-1]
		if spec, ok := strings.CutPrefix(name, "repeat:"); ok {
			i := strings.LastIndexByte(spec, ':')
			n, err := strconv.Atoi(spec[i+1:])
			if i < 0 || err != nil || n < 0 {
				bad = fmt.Errorf("bad placeholder %s", m)
				return m
			}
			return strings.Repeat(spec[:i], n)
		}
		if key, ok := strings.CutPrefix(name, "raw:"); ok {
			return fixtures[key]
		}
		v, ok := fixtures[name]
		if !ok {
			bad = fmt.Errorf("placeholder %s: no such fixture", m)
		}
		quoted, _ := json.Marshal(v)
		return string(quoted[1 : len(quoted)-1])
	})
	if bad != nil {
		return nil, fmt.Errorf("%s: %w", path, bad)
	}
	var f scenarioFile
	if err := json.Unmarshal([]byte(text), &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range f.Scenarios {
		s := &f.Scenarios[i]
		if s.ConfigFile != "" {
			if s.Config, err = os.ReadFile(filepath.Join(dir, s.ConfigFile)); err != nil {
				return nil, err
			}
		}
		if s.ConfigText != "" {
			s.Config = json.RawMessage(s.ConfigText)
		}
	}
	return f.Scenarios, nil
}

// valueMatches: exact, "*" for any value, "re:<RE2>" for a whole-value pattern.
func valueMatches(want, got string) bool {
	if want == "*" {
		return true
	}
	if expr, ok := strings.CutPrefix(want, "re:"); ok {
		re, err := regexp.Compile("^(?:" + expr + ")$")
		return err == nil && re.MatchString(got)
	}
	return want == got
}
