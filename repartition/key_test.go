package repartition

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// explicitHashKeyBig is the reference: decimal of (key << 64) | key.
func explicitHashKeyBig(key uint64) string {
	n := new(big.Int).SetUint64(key)
	n.Lsh(n, 64)
	n.Or(n, new(big.Int).SetUint64(key))
	return n.String()
}

func edgeKeys() []uint64 {
	keys := []uint64{0, 1, 2, 9, 10, 1 << 63, 1<<63 - 1, 1<<63 + 1, math.MaxUint64, math.MaxUint64 - 1,
		1e19 - 1, 1e19, 1e19 + 1, 0x0123456789abcdef, 0xfedcba9876543210}
	for i := range 64 {
		keys = append(keys, 1<<i, 1<<i-1)
	}
	for p := uint64(1); p <= 1e19; p *= 10 {
		keys = append(keys, p-1, p, p+1)
		if p == 1e19 {
			break
		}
	}
	return keys
}

func TestAppendExplicitHashKey_MatchesMathBig(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	keys := edgeKeys()
	for range 200_000 {
		keys = append(keys, rng.Uint64())
	}
	for range 1000 {
		keys = append(keys, rng.Uint64()>>rng.IntN(64)) // small keys: short outputs
	}
	for _, k := range keys {
		want := explicitHashKeyBig(k)
		got := AppendExplicitHashKey(nil, k)
		if string(got) != want {
			t.Fatalf("key %d: %s, want %s", k, got, want)
		}
		if len(got) > ExplicitHashKeyMaxLen {
			t.Fatalf("key %d: %d digits, over ExplicitHashKeyMaxLen", k, len(got))
		}
	}
	if got := string(AppendExplicitHashKey(nil, math.MaxUint64)); got != "340282366920938463463374607431768211455" {
		t.Errorf("2^128-1: %s", got)
	}
	if got := string(AppendExplicitHashKey(nil, 0)); got != "0" {
		t.Errorf("0: %s", got)
	}
}

func TestAppendPartitionKey_MatchesFmt(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := edgeKeys()
	for range 100_000 {
		keys = append(keys, rng.Uint64())
	}
	for _, k := range keys {
		got := AppendPartitionKey(nil, k)
		if want := fmt.Sprintf("%016x", k); string(got) != want {
			t.Fatalf("key %d: %s, want %s", k, got, want)
		}
		if len(got) != PartitionKeyLen {
			t.Fatalf("key %d: length %d", k, len(got))
		}
	}
}

func TestAppend_KeepsPrefixAndAllocatesNothing(t *testing.T) {
	dst := make([]byte, 0, 128)
	dst = append(dst, "p:"...)
	if got := string(AppendPartitionKey(dst, 255)); got != "p:00000000000000ff" {
		t.Errorf("AppendPartitionKey = %q", got)
	}
	if got := string(AppendExplicitHashKey(dst, 1)); got != "p:18446744073709551617" {
		t.Errorf("AppendExplicitHashKey = %q", got)
	}
	if got := AppendKeyMaterial(dst, []byte("s"), []byte("t"), []byte(`"a"`), []byte("1")); string(got) != "p:s\x00t\x00\"a\"\x001" {
		t.Errorf("AppendKeyMaterial = %q", got)
	}
	if testing.CoverMode() != "" {
		return
	}
	cols := [][]byte{[]byte(`"a"`), []byte("1")}
	allocs := testing.AllocsPerRun(100, func() {
		dst = AppendPartitionKey(dst[:0], 0xdeadbeef)
		dst = AppendExplicitHashKey(dst[:0], math.MaxUint64)
		dst = AppendKeyMaterial(dst[:0], []byte("s"), []byte("t"), cols...)
		_ = Hash(dst)
	})
	if allocs != 0 {
		t.Errorf("%v allocations", allocs)
	}
}

func TestAppendKeyMaterial_Layout(t *testing.T) {
	tests := []struct {
		schema, table string
		cols          []string
		want          string
	}{
		{"", "", nil, "\x00"},
		{"s", "t", nil, "s\x00t"},
		{"s", "t", []string{""}, "s\x00t\x00"},
		{"s", "t", []string{`"a b"`, "null", `{"x": 1}`}, "s\x00t\x00\"a b\"\x00null\x00{\"x\": 1}"},
	}
	for _, tt := range tests {
		var cols [][]byte
		for _, c := range tt.cols {
			cols = append(cols, []byte(c))
		}
		if got := AppendKeyMaterial(nil, []byte(tt.schema), []byte(tt.table), cols...); string(got) != tt.want {
			t.Errorf("%q %q %q: %q, want %q", tt.schema, tt.table, tt.cols, got, tt.want)
		}
	}
}

// TestHash_IsXXH64Seed0 pins the hash to published XXH64 values.
func TestHash_IsXXH64Seed0(t *testing.T) {
	for in, want := range map[string]uint64{
		"":    0xef46db3751d8e999,
		"a":   0xd24ec4f1a98c6e5b,
		"abc": 0x44bc2cf5ad770999,
		"Nobody inspects the spammish repetition": 0xfbcea83c8a378bf1,
	} {
		if got := Hash([]byte(in)); got != want {
			t.Errorf("Hash(%q) = %016x, want %016x", in, got, want)
		}
	}
	if got := Hash([]byte(strings.Repeat("x", 100))); got == Hash([]byte(strings.Repeat("x", 99))) {
		t.Errorf("collision on lengths")
	}
}
