package pluginconfig

import (
	"strings"
	"testing"
)

type sample struct {
	Name  string   `json:"name"`
	Every Duration `json:"every"`
	Inner struct {
		N int `json:"n"`
	} `json:"inner"`
}

func TestDecode(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"name": "a", "every": "5s", "inner": {"n": 1}}`, ""},
		{`{"name": "a", "nmae": "b"}`, "nmae: unknown field"},
		{`{"inner": {"n": "x"}}`, "inner.n: must be int"},
		{`{"every": "soon"}`, `every: "soon" is not a duration`},
		{`{"every": "-1s"}`, "every:"},
		{`{"name": "a"} {"name": "b"}`, "unexpected data after"},
		{``, "configuration is empty"},
		{`{"name": `, "invalid JSON"},
	}
	for _, tt := range tests {
		var s sample
		err := Decode([]byte(tt.in), &s)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.in, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want %q", tt.in, err, tt.want)
		}
	}
}

// FuzzDecode checks that no configuration bytes crash the decoder.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"name": "a", "every": "5s"}`))
	f.Add([]byte(`{"every": 5}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s sample
		_ = Decode(b, &s)
	})
}
