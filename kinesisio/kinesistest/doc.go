// Package kinesistest is a deterministic in-memory Kinesis for tests. A
// *Fake holds several streams and answers the SDK calls repartd makes
// (ListShards, GetShardIterator, GetRecords, PutRecords,
// DescribeStreamSummary) with the *kinesis.Client signatures, so it fits
// kinesisio.Source and kinesisio.Destination. It does not import
// kinesisio, so kinesisio's tests can import it.
//
// Invariants:
//
//   - Sequence numbers are 56-digit decimal strings, increasing across the
//     whole stream and so within each shard; compare them as big integers.
//   - Open shards tile the 128-bit hash key space; a record lands in the
//     open shard holding its ExplicitHashKey, else the MD5 of its key.
//   - A closed shard takes no writes; its EndingSequenceNumber is above all
//     its records and below all of its children's.
//   - Records are dropped only when a test asks (Trim, TrimConsumed,
//     DiscardRecords: long runs whose memory must stay flat); positions
//     stay absolute, so iterators survive a trim. Shards never expire.
//   - A record's data is copied once, when written; readers share that
//     copy and must not modify it (race and invariants builds hand each
//     read a fresh copy instead).
//   - Errors are the SDK's typed errors (*types.ProvisionedThroughputExceededException,
//     ...) wrapped in *smithy.OperationError as the SDK wraps them; match
//     them with errors.As.
//   - Injected faults (Faults) draw from per-stream sources seeded by
//     WithSeed: a single-goroutine run repeats exactly with its seed, and
//     read faults never shift write faults.
//
// Misuse is reported, like database/sql's fakedb: with Faults.CheckKeys a
// partition key in flight twice fails the test given to WithT.
package kinesistest
