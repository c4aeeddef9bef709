package kinesisio

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// The SDK hides behind one narrow interface per call, declared here where
// it is used, so test doubles stay small. *kinesis.Client fits them all.

// ShardLister lists a stream's shards (ListShards). Failure modes: throttling
// (LimitExceededException), ResourceNotFoundException, ExpiredNextToken.
type ShardLister interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// IteratorGetter opens a shard iterator (GetShardIterator). Failure modes:
// throttling, ResourceNotFoundException for an expired shard, and
// InvalidArgumentException for a sequence number outside the shard.
type IteratorGetter interface {
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
}

// RecordGetter reads from a shard iterator (GetRecords). Failure modes:
// ProvisionedThroughputExceededException (5 calls/s, 2 MiB/s per shard),
// ExpiredIteratorException (iterators live 5 minutes), transient 5xx.
type RecordGetter interface {
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// RecordPutter writes a batch (PutRecords). Entries can fail one by one
// (ErrorCode set) while later entries of the same call succeed, so one call
// never carries two records of a key. A whole-call error after a timeout or
// a 5xx may still have written the records.
type RecordPutter interface {
	PutRecords(context.Context, *kinesis.PutRecordsInput, ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// StreamDescriber reads a stream's summary (DescribeStreamSummary), for its
// maximum record size and status.
type StreamDescriber interface {
	DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// Source is what reading a stream needs.
type Source interface {
	ShardLister
	IteratorGetter
	RecordGetter
}

// Destination is what writing a stream needs: its shard map paces and
// places records (one token bucket per shard, a DDL copy per shard).
type Destination interface {
	RecordPutter
	StreamDescriber
	ShardLister
}

var (
	_ Source      = (*kinesis.Client)(nil)
	_ Destination = (*kinesis.Client)(nil)
)
