//go:build !(invariants || race)

package kinesistest

// copyReads is false outside race and invariants builds: GetRecords hands
// out the Data the fake copied once when it was written, so callers must
// not modify it.
const copyReads = false
