//go:build invariants || race

package repartition

// invariants enables cheap self-checks (one record per key in flight,
// watermark monotonicity). They compile in under -race and -tags invariants.
const invariants = true
