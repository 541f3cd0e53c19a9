package hessian

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	h2 "github.com/apache/dubbo-go-hessian2"

	"github.com/wasmesh/wasmesh/host/dubbo/internal/cputime"
)

// point and user are objects for the oracle: dubbo-go-hessian2 writes them as class definitions and instances.
type point struct {
	X, Y int32
}

func (point) JavaClassName() string { return "org.example.Point" }

type user struct {
	Name   string
	Age    int32
	Tags   []string
	Origin *point
	Scores map[string]int64
}

func (user) JavaClassName() string { return "org.example.User" }

func init() {
	h2.RegisterPOJO(&point{})
	h2.RegisterPOJO(&user{})
}

func encode(t testing.TB, vs ...any) []byte {
	t.Helper()
	e := h2.NewEncoder()
	for _, v := range vs {
		if err := e.Encode(v); err != nil {
			t.Fatalf("oracle encode %T: %v", v, err)
		}
	}
	return e.Buffer()
}

// sampleValues covers every value form the grammar has, as the oracle writes them.
func sampleValues() []any {
	long := strings.Repeat("x", 70000) // forces string chunks
	return []any{
		nil, true, false,
		int32(0), int32(-16), int32(47), int32(-2048), int32(2047), int32(-262144), int32(262143), int32(math.MaxInt32), int32(math.MinInt32),
		int64(0), int64(-8), int64(15), int64(-2048), int64(2047), int64(-262144), int64(262143), int64(math.MaxInt32), int64(math.MaxInt64), int64(math.MinInt64),
		0.0, 1.0, 12.0, -128.0, 300.0, 1.5, math.Pi, math.Inf(1),
		time.UnixMilli(1_700_000_000_000), time.Unix(1_700_000_040, 0),
		"", "a", strings.Repeat("b", 31), strings.Repeat("c", 32), strings.Repeat("d", 1023), strings.Repeat("e", 1024),
		"héllo wörld", "日本語", "emoji 😀 pair", long, long + "😀",
		[]byte{}, []byte{1, 2, 3}, bytes.Repeat([]byte{7}, 15), bytes.Repeat([]byte{8}, 16), bytes.Repeat([]byte{9}, 1023),
		bytes.Repeat([]byte{10}, 1024), bytes.Repeat([]byte{11}, 70000),
		[]any{int32(1), "two", 3.0, nil}, []string{"a", "b"}, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9},
		[]int64{1}, make([]any, 0), []any{[]any{[]any{"deep"}}},
		map[any]any{"k": "v", int32(1): []any{"x"}}, map[string]string{"a": "b"}, map[any]any{},
		&point{X: 1, Y: -2},
		&user{Name: "Alice", Age: 30, Tags: []string{"x", "y"}, Origin: &point{3, 4}, Scores: map[string]int64{"m": 9}},
		[]any{&point{1, 1}, &point{2, 2}, &user{Name: "Bob"}}, // second instance reuses the class definition
	}
}

func TestSkipLandsAtEndOfEveryOracleValue(t *testing.T) {
	for _, v := range sampleValues() {
		b := encode(t, v)
		var sc Scanner
		end, err := sc.Skip(b, 0)
		if err != nil {
			t.Errorf("%T (%d bytes): skip: %v (bytes % x)", v, len(b), err, b[:min(len(b), 32)])
			continue
		}
		if end != len(b) {
			t.Errorf("%T: skip ended at %d, value is %d bytes", v, end, len(b))
		}
	}
}

func TestSkipSequenceSharesClassDefinitions(t *testing.T) {
	// One stream: the second and third objects refer to class definitions written by the first ones.
	vs := []any{&point{1, 2}, "sep", &point{3, 4}, &user{Name: "A", Origin: &point{5, 6}}, &user{Name: "B"}, int32(5)}
	skipStream(t, "one stream", vs)
}

// skipStream encodes vs as one stream with the oracle and checks that skipping len(vs) values ends exactly at
// the end of it.
func skipStream(t *testing.T, name string, vs []any) {
	t.Helper()
	b := encode(t, vs...)
	var sc Scanner
	off := 0
	for i := range vs {
		next, err := sc.Skip(b, off)
		if err != nil {
			t.Fatalf("%s: value %d (%T): %v", name, i, vs[i], err)
		}
		off = next
	}
	if off != len(b) {
		t.Fatalf("%s: ended at %d of %d", name, off, len(b))
	}
}

func TestSkipRandomOracleStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	samples := sampleValues()
	for round := 0; round < 200; round++ {
		n := 1 + rng.IntN(6)
		vs := make([]any, n)
		for i := range vs {
			vs[i] = randomValue(rng, samples, 3)
		}
		skipStream(t, "round "+strconv.Itoa(round), vs)
	}
}

func randomValue(rng *rand.Rand, samples []any, depth int) any {
	switch k := rng.IntN(10); {
	case depth > 0 && k == 0:
		l := make([]any, rng.IntN(5))
		for i := range l {
			l[i] = randomValue(rng, samples, depth-1)
		}
		return l
	case depth > 0 && k == 1:
		m := map[any]any{}
		for i := rng.IntN(4); i > 0; i-- {
			m[randomString(rng)] = randomValue(rng, samples, depth-1)
		}
		return m
	case k == 2:
		return randomString(rng)
	case k == 3:
		return int64(rng.Int64()) >> rng.IntN(64)
	case k == 4:
		return int32(rng.Int32()) >> rng.IntN(32)
	case k == 5:
		return &point{X: rng.Int32N(1000), Y: -rng.Int32N(1000)}
	}
	return samples[rng.IntN(len(samples))]
}

func randomString(rng *rand.Rand) string {
	alphabet := []rune("abcXYZ09-_/é日😀")
	r := make([]rune, rng.IntN(40))
	for i := range r {
		r[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(r)
}

func TestStringMatchesOracle(t *testing.T) {
	for _, s := range []string{"", "a", strings.Repeat("z", 31), strings.Repeat("z", 32), strings.Repeat("é", 1024),
		"mixed 日本 😀 text", strings.Repeat("y", 65535), strings.Repeat("y", 65536) + "😀", strings.Repeat("😀", 40000)} {
		b := encode(t, s)
		got, end, err := String(b, 0)
		if err != nil || end != len(b) {
			t.Errorf("len %d: String = end %d err %v, want end %d", len(s), end, err, len(b))
			continue
		}
		// The oracle writes supplementary characters as surrogates; compare after decoding both ways.
		back, err := h2.NewDecoder(AppendString(nil, string(got))).Decode()
		if err != nil || back != s {
			t.Errorf("len %d: round trip through AppendString and the oracle gave %.20q, %v", len(s), back, err)
		}
	}
}

func TestAppendStringDecodesWithOracle(t *testing.T) {
	for _, s := range []string{"", "hello", strings.Repeat("a", 32), strings.Repeat("b", 1024), strings.Repeat("c", 65535),
		strings.Repeat("d", 65536), strings.Repeat("é", 70000), strings.Repeat("😀", 33000), "a😀b"} {
		b := AppendString(nil, s)
		got, err := h2.NewDecoder(b).Decode()
		if err != nil || got != s {
			t.Errorf("len %d: oracle decoded %.20q, %v", len(s), got, err)
		}
		// Our own reader agrees on where it ends.
		if end, err := SkipString(b, 0); err != nil || end != len(b) {
			t.Errorf("len %d: SkipString = %d, %v; want %d", len(s), end, err, len(b))
		}
	}
}

func TestIntMatchesOracle(t *testing.T) {
	for _, v := range []int32{0, -16, 47, 48, -17, -2048, 2047, 2048, -262144, 262143, 262144, math.MaxInt32, math.MinInt32} {
		b := AppendInt(nil, v)
		got, err := h2.NewDecoder(b).Decode()
		if err != nil || got != v {
			t.Errorf("AppendInt(%d): oracle read %v, %v", v, got, err)
		}
		ob := encode(t, v)
		r, end, err := Int(ob, 0)
		if err != nil || r != v || end != len(ob) {
			t.Errorf("Int(oracle %d) = %d, %d, %v", v, r, end, err)
		}
	}
}

func TestMalformedInputs(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"reserved byte", []byte{0x40}, ErrMalformed},
		{"end is not a value", []byte{'Z'}, ErrMalformed},
		{"string longer than input", []byte{0x05, 'a'}, ErrShort},
		{"bad utf-8 lead", []byte{0x01, 0x80}, ErrMalformed},
		{"binary chunk longer than input", []byte{'B', 0xff, 0xff, 1}, ErrShort},
		{"fixed list longer than input", []byte{'X', 'I', 0x7f, 0xff, 0xff, 0xff, 'N'}, ErrMalformed},
		{"object of unknown class", []byte{0x60}, ErrMalformed},
		{"unterminated map", []byte{'H', 0x01, 'a'}, ErrShort},
		{"deep nesting", bytes.Repeat([]byte{'W'}, MaxDepth+10), ErrTooDeep},
		{"negative class field count", []byte{'C', 0x01, 'p', 'I', 0xff, 0xff, 0xff, 0xff}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sc Scanner
			_, err := sc.Skip(tt.in, 0)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Skip = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSkipManyClassDefinitionsDoesNotRecurse(t *testing.T) {
	// 200k empty class definitions then null: handled in a loop, bounded stack.
	b := bytes.Repeat([]byte{'C', 0x01, 'p', 0x90}, 200_000)
	b = append(b, 'N')
	var sc Scanner
	end, err := sc.Skip(b, 0)
	if err != nil || end != len(b) {
		t.Fatalf("Skip = %d, %v", end, err)
	}
}

func FuzzSkip(f *testing.F) {
	for _, v := range sampleValues() {
		// Large seeds slow the mutator down without finding more paths.
		if b := encode(f, v); len(b) < 2048 {
			f.Add(b)
		}
	}
	f.Add([]byte{'C', 0x01, 'p', 0x91, 0x01, 'x', 0x60, 0x90})
	f.Fuzz(func(t *testing.T, b []byte) {
		var sc Scanner
		end, err := sc.Skip(b, 0)
		if err == nil && (end <= 0 || end > len(b)) {
			t.Fatalf("Skip returned end %d for %d bytes", end, len(b))
		}
		// Whatever we accept as a string, the reader returns within bounds.
		if v, next, err := String(b, 0); err == nil && (next > len(b) || len(v) > len(b)) {
			t.Fatalf("String returned %d bytes, next %d for %d input bytes", len(v), next, len(b))
		}
	})
}

func BenchmarkSkipUser(b *testing.B) {
	buf := encode(b, &user{Name: "Alice", Age: 30, Tags: []string{"x", "y"}, Origin: &point{3, 4}, Scores: map[string]int64{"m": 9}})
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	var sc Scanner
	defer cputime.Report(b, cputime.Process())
	for b.Loop() {
		sc.Reset()
		if _, err := sc.Skip(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzAppendString checks that whatever string a filter sets, the writer produces a string the reader (and so
// a Java provider) accepts, and that a string read back re-encodes to itself.
func FuzzAppendString(f *testing.F) {
	f.Add("hello")
	f.Add("a😀b\xed\xa0\x80\xf7")
	f.Add(strings.Repeat("é", 2000)) // chunking past 65535 units is covered by the table tests
	f.Fuzz(func(t *testing.T, s string) {
		b := AppendString(nil, s)
		got, end, err := String(b, 0)
		if err != nil || end != len(b) {
			t.Fatalf("AppendString(%q) does not read back: end %d of %d, %v", s, end, len(b), err)
		}
		if again := AppendString(nil, string(got)); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %q is not stable", s)
		}
	})
}

// TestSkipGrammarForms covers forms of the grammar that neither oracle happens to write. Each input is one
// value followed by a sentinel byte the skip must stop before.
func TestSkipGrammarForms(t *testing.T) {
	classDef := []byte{'C', 0x01, 'P', 0x92, 0x01, 'x', 0x01, 'y'} // class P{x, y}
	tests := []struct {
		name string
		in   []byte
	}{
		{"variable typed list", []byte{'U', 0x01, 'T', 0x91, 0x92, 'Z'}},
		{"variable untyped list", []byte{'W', 'N', 'T', 'Z'}},
		{"fixed typed list, type by ref", []byte{'V', 0x90, 0x92, 0x91, 0x92}},
		{"fixed untyped list, long count form", []byte{'X', 'I', 0, 0, 0, 2, 'T', 'F'}},
		{"typed map, type by ref", []byte{'M', 0x90, 0x01, 'k', 0x01, 'v', 'Z'}},
		{"object, long index form", append(append([]byte{}, classDef...), 'O', 0x90, 0x91, 0x92)},
		{"object, compact form", append(append([]byte{}, classDef...), 0x60, 0x91, 0x92)},
		{"double forms", []byte{'W', 0x5b, 0x5c, 0x5d, 0x80, 0x5e, 0x01, 0x00, 0x5f, 0, 0, 0, 1, 'D', 0, 0, 0, 0, 0, 0, 0, 0, 'Z'}},
		{"long forms", []byte{'W', 0xe0, 0xf8, 0x00, 0x3c, 0x00, 0x00, 'Y', 0, 0, 0, 1, 'L', 0, 0, 0, 0, 0, 0, 0, 1, 'Z'}},
		{"int forms", []byte{'W', 0x90, 0xc8, 0x01, 0xd4, 0x00, 0x01, 'I', 0, 0, 0, 1, 'Z'}},
		{"dates", []byte{'W', 'J', 0, 0, 0, 0, 0, 0, 0, 1, 'K', 0, 0, 0, 1, 'Z'}},
		{"binary chunks, compact final", []byte{'A', 0x00, 0x02, 1, 2, 0x22, 3, 4}},
		{"binary chunks, medium final", []byte{'A', 0x00, 0x01, 1, 0x34, 0x02, 5, 6}},
		{"string chunks, compact final", []byte{'R', 0x00, 0x02, 'a', 'b', 0x01, 'c'}},
		{"ref", []byte{'Q', 0x90}},
		{"cesu-8 surrogate pair", []byte{0x02, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80}},
		{"4-byte utf-8 counts two", []byte{0x03, 'a', 0xf0, 0x9f, 0x98, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append(append([]byte{}, tt.in...), 0x40) // 0x40 is reserved: never part of a value
			var sc Scanner
			// A typed list or map refers to type 0: give the stream one first, as a real stream would have.
			pre := []byte{'V', 0x01, 'T', 0x90}
			off, err := sc.Skip(append(pre, in...), 0)
			if err != nil || off != len(pre) {
				t.Fatalf("type-defining prefix: %d, %v", off, err)
			}
			end, err := sc.Skip(append(pre, in...), len(pre))
			if err != nil || end != len(pre)+len(tt.in) {
				t.Fatalf("Skip = %d, %v; want %d", end-len(pre), err, len(tt.in))
			}
		})
	}
}
