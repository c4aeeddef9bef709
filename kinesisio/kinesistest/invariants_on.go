//go:build invariants || race

package kinesistest

// copyReads makes GetRecords copy Data out of the store (one arena per
// call), as AWS's answers are fresh buffers: under race and invariants
// builds, which the tests use, a caller writing into a record's Data
// cannot corrupt the fake. Other builds (benchmarks) share the stored copy.
const copyReads = true
