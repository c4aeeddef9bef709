package repartition

import (
	"encoding/json"
	"strings"
	"testing"
)

func skipAll(b []byte) (bool, scanError) {
	var s scanner
	s.reset(b)
	if !s.skip() {
		return false, s.err
	}
	s.ws()
	return s.i == len(b), s.err
}

func TestScanner_SkipAgreesWithJSONValid(t *testing.T) {
	for _, in := range []string{
		`0`, `-0`, `-0.0e-0`, `1E+400`, `123456789012345678901234567890`, `01`, `-`, `+1`, `1.`, `.1`, `1e`, `1e+`, `0x1`, `Infinity`,
		`""`, `"\""`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\uD83D\uDE00"`, `"\ud800"`, `"\u12"`, `"\u12G4"`, `"\x"`, `"\'"`,
		"\"\x00\"", "\"\x1f\"", "\"\x7f\"", "\"é😀\"", `"abc`, `"abc\`,
		`[]`, `[ ]`, `[1,2]`, `[1,]`, `[,]`, `[1 2]`, `[`, `]`, `{}`, `{ }`, `{"a":1}`, `{"a":1,}`, `{"a"}`, `{"a":}`, `{a:1}`, `{"a" : [ {} , [] ] }`,
		`{"a":1}}`, `{"a":1]`, `[1}`, `true`, `false`, `null`, `tru`, `nulls`, `True`,
		` 1 `, "\t\r\n[\t\r\n]\t\r\n", "\f1", "\u00a01", `1 2`, `{} {}`,
	} {
		got, err := skipAll([]byte(in))
		if want := json.Valid([]byte(in)); got != want {
			t.Errorf("%q: skip %v (%s), json.Valid %v", in, got, err.reason, want)
		}
	}
}

func TestScanner_RejectsInvalidUTF8InStrings(t *testing.T) {
	for _, in := range []string{"\"\xff\"", "\"\xc3\"", "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xc0\xaf\"", "{\"\xfe\":1}"} {
		if ok, err := skipAll([]byte(in)); ok || err.reason != "invalid UTF-8" {
			t.Errorf("%q: ok %v reason %q, want invalid UTF-8", in, ok, err.reason)
		}
	}
	// U+FFFD itself is valid.
	if ok, _ := skipAll([]byte("\"\xef\xbf\xbd\"")); !ok {
		t.Errorf("rejected U+FFFD")
	}
}

func TestScanner_DepthLimitMatchesEncodingJSON(t *testing.T) {
	for _, depth := range []int{1, 63, 64, 65, 129, maxDepth - 1, maxDepth, maxDepth + 1, 3 * maxDepth} {
		for name, in := range map[string]string{
			"arrays":  strings.Repeat("[", depth) + strings.Repeat("]", depth),
			"objects": strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1),
			"mixed":   strings.Repeat(`[{"a":`, depth/2) + "0" + strings.Repeat("}]", depth/2),
		} {
			got, err := skipAll([]byte(in))
			if want := json.Valid([]byte(in)); got != want {
				t.Errorf("%s %d: skip %v (%s), json.Valid %v", name, depth, got, err.reason, want)
			}
		}
	}
}

func TestAppendUnescaped_MatchesEncodingJSON(t *testing.T) {
	for _, raw := range []string{
		``, `plain`, `\"\\\/\b\f\n\r\t`, `caf\u00e9`, `\u0000`, `\uD83D\uDE00`, `\ud83d\ude00x`,
		`\ud800`, `\udc00`, `\ud800\ud800\udc00`, `\ud800\u0041`, `\udc00\ud800`, `\ud800\\u0041`, `é😀`, `\uFFFD`,
	} {
		var want string
		if err := json.Unmarshal([]byte(`"`+raw+`"`), &want); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := string(appendUnescaped(nil, []byte(raw))); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
}

func TestScanner_StringBoundsAndEscapeFlag(t *testing.T) {
	for _, tt := range []struct {
		in      string
		raw     string
		esc, ok bool
		reason  string
	}{
		{`"abc"`, "abc", false, true, ""},
		{`"a\"b"`, `a\"b`, true, true, ""},
		{`""`, "", false, true, ""},
		{`"a`, "", false, false, "unterminated string"},
		{`"\u00`, "", false, false, "unterminated string"},
		{`"\q"`, "", false, false, "invalid escape"},
		{"\"a\nb\"", "", false, false, "control character in string"},
	} {
		var s scanner
		s.reset([]byte(tt.in))
		start, end, esc, ok := s.str()
		if ok != tt.ok || s.err.reason != tt.reason {
			t.Errorf("%q: ok %v reason %q", tt.in, ok, s.err.reason)
			continue
		}
		if ok && (tt.in[start:end] != tt.raw || esc != tt.esc || s.i != len(tt.in)) {
			t.Errorf("%q: raw %q esc %v end %d", tt.in, tt.in[start:end], esc, s.i)
		}
	}
}

// stopAtBytewise is the byte-at-a-time reference for stopAt.
func stopAtBytewise(b []byte, i int) int {
	for i < len(b) && !strClass[b[i]] {
		i++
	}
	return i
}

// TestStopAt_MatchesBytewise puts every pair of byte values at every pair of
// adjacent positions of a word-sized window: a borrow only ever moves from a
// byte to the next, so this covers every way strStops's subtractions can
// interact, on both sides of a word boundary and in the bytewise tail.
func TestStopAt_MatchesBytewise(t *testing.T) {
	for _, fill := range []byte{'a', ' ', '!', '#', '[', ']', 0x7f} {
		b := make([]byte, 19) // two words and a 3-byte tail
		for p := 0; p+1 < len(b); p++ {
			for c1 := range 256 {
				for c2 := range 256 {
					for k := range b {
						b[k] = fill
					}
					b[p], b[p+1] = byte(c1), byte(c2)
					for _, from := range []int{0, 1, p} {
						if got, want := stopAt(b, from), stopAtBytewise(b, from); got != want {
							t.Fatalf("fill %q, %#x %#x at %d, from %d: stopAt %d, bytewise %d", fill, c1, c2, p, from, got, want)
						}
					}
				}
			}
		}
	}
}

func FuzzStopAt(f *testing.F) {
	f.Add([]byte(`plain ascii text and then a "quote`), 0)
	f.Add([]byte("caf\xc3\xa9 \\n \x1f"), 2)
	f.Fuzz(func(t *testing.T, b []byte, from int) {
		if from < 0 || from > len(b) {
			return
		}
		if got, want := stopAt(b, from), stopAtBytewise(b, from); got != want {
			t.Fatalf("%q from %d: stopAt %d, bytewise %d", b, from, got, want)
		}
	})
}
