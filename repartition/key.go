package repartition

import (
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Routing key contract v1 (README "The routing key"):
//
//	material = schema 0x00 table [0x00 raw-token(data[col])]...
//	key      = XXH64(material, seed 0)
//	PartitionKey    = key as 16 lowercase hex digits
//	ExplicitHashKey = decimal (key<<64 | key)
//
// Changing any of this moves rows between shards and breaks per-row order
// across an upgrade: it needs a new contract version, never a silent edit.

// AppendKeyMaterial appends the key material of schema, table and the raw
// key column tokens to dst.
func AppendKeyMaterial(dst, schema, table []byte, cols ...[]byte) []byte {
	dst = append(append(dst, schema...), 0)
	dst = append(dst, table...)
	for _, c := range cols {
		dst = append(append(dst, 0), c...)
	}
	return dst
}

// Hash is the routing hash of key material.
func Hash(material []byte) uint64 { return xxhash.Sum64(material) }

const hexDigits = "0123456789abcdef"

// PartitionKeyLen is the length of every PartitionKey repartd writes.
const PartitionKeyLen = 16

// AppendPartitionKey appends key as 16 lowercase hex digits.
func AppendPartitionKey(dst []byte, key uint64) []byte {
	var b [PartitionKeyLen]byte
	for i := PartitionKeyLen - 1; i >= 0; i-- {
		b[i] = hexDigits[key&0xf]
		key >>= 4
	}
	return append(dst, b[:]...)
}

// AppendExplicitHashKey appends the decimal form of the 128-bit number
// key<<64 | key, which places the record uniformly over the hash key space.
func AppendExplicitHashKey(dst []byte, key uint64) []byte {
	const e19 = 10_000_000_000_000_000_000 // largest power of ten below 2^64
	// Divide (hi:lo) by 1e19 twice; the last quotient is below 4.
	hi, lo := key, key
	qh, rh := hi/e19, hi%e19
	ql, r0 := bits.Div64(rh, lo, e19)
	// quotient is qh:ql; divide again.
	q2h, r2h := qh/e19, qh%e19
	q2l, r1 := bits.Div64(r2h, ql, e19)
	_ = q2h // qh < 2^64/1e19 < 2, so q2h is always 0
	var b [40]byte
	n := len(b)
	put19 := func(v uint64) {
		for range 19 {
			n--
			b[n] = byte('0' + v%10)
			v /= 10
		}
	}
	put19(r0)
	put19(r1)
	n--
	b[n] = byte('0' + q2l)
	for n < len(b)-1 && b[n] == '0' {
		n++
	}
	return append(dst, b[n:]...)
}

// ExplicitHashKeyMaxLen bounds AppendExplicitHashKey's output (2^128-1 has
// 39 digits).
const ExplicitHashKeyMaxLen = 39
