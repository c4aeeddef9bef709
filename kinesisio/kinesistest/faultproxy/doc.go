// Package faultproxy is a fault-injecting HTTP proxy for the Kinesis JSON
// API (awsJson1.1). It sits between a real client (repartd, Benthos) and a
// real emulator (kinesalite) on 127.0.0.1, so injected faults reach the
// client over HTTP exactly as AWS would send them: the same status codes,
// the same `__type` values, the same partial PutRecords results, and
// connections that really reset.
//
// Invariants:
//
//   - A PutRecords entry answered with an ErrorCode was never forwarded: it
//     is not in the stream. Every other entry of the call was forwarded in
//     its original relative order, and its upstream result is returned at
//     its original position; FailedRecordCount counts both kinds.
//   - A whole-call throttle, 500 or reset forwards nothing. An ambiguous
//     call is forwarded and answered only afterwards (reset, or late), so
//     its records may be in the stream although the client saw an error.
//   - Requests the proxy does not fault pass through unchanged, byte for
//     byte, except for the StreamName added to StreamARN-only requests
//     (kinesalite rejects those; AWS accepts both).
//   - Random choices come from sources seeded by Options.Seed, one per
//     stream and operation: a single-goroutine sequence of calls sees the
//     same faults again with the same seed (Seed reports the seed in use).
//     Per-shard limits depend on the clock (Options.Now), not on the seed.
//   - Payload bytes (record data) are never logged, nor put in errors or
//     stats.
//
// The proxy re-signs nothing: emulators do not check signatures, so it must
// never sit in front of real AWS.
package faultproxy
