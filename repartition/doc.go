// Package repartition is the pure core of repartd: it parses DMS records,
// derives their routing keys, orders them per key and tracks which source
// positions are safe to checkpoint.
//
// Invariants (each has a test that fails without it):
//
//   - A record's routing key depends only on its bytes, the configured key
//     rules and the key columns learned from earlier control records; it
//     never depends on timing, batching or which shard it came from.
//   - The Scheduler never hands out a record of a key while an earlier
//     record of that key is unacknowledged (strict per-key order), and a
//     record stays at the head of its key until it is acknowledged.
//   - A Watermark only rises, and it never passes a record that has not
//     been acknowledged.
//
// The package does no I/O: no AWS, net, os or log imports (checked by a
// test). Callers pass the clock in. It never logs; it returns errors and
// fills Stats.
package repartition
