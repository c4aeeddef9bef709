// Package kinesisio is repartd's AWS edge: it discovers and reads source
// shards, writes the destination with PutRecords, and stores checkpoints.
// It drives the pure core (package repartition) from one event loop.
//
// Invariants:
//
//   - A checkpoint names, per source shard, a position at or before the
//     shard's watermark: every record up to it was acknowledged by the
//     destination. Restart reads AFTER_SEQUENCE_NUMBER of it.
//   - No record of a key is sent while an earlier record of that key is
//     unacknowledged, including a record whose write outcome is unknown
//     (timeout, 5xx): it is re-sent before anything later of its key.
//   - A child shard is read only after its parents (both parents of a
//     merge) were read to their end and their records queued ahead, so the
//     per-key queues order every parent record before any child record.
//   - Memory is bounded: readers wait for buffer credit before reading.
//
// Only this package imports the AWS SDK.
package kinesisio
