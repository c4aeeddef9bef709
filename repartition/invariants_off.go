//go:build !(invariants || race)

package repartition

const invariants = false
