package kinesistest_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

var (
	_ kinesisio.Source      = (*kinesistest.Fake)(nil)
	_ kinesisio.Destination = (*kinesistest.Fake)(nil)
)

// clock is a manual clock for WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newFake(t *testing.T, stream string, shards int, opts ...kinesistest.Option) *kinesistest.Fake {
	t.Helper()
	f := kinesistest.New(opts...)
	if err := f.CreateStream(stream, shards); err != nil {
		t.Fatal(err)
	}
	return f
}

func entries(keys ...string) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, len(keys))
	for i, k := range keys {
		out[i] = types.PutRecordsRequestEntry{PartitionKey: ptr(k), Data: []byte("data-" + k)}
	}
	return out
}

func put(t *testing.T, f *kinesistest.Fake, stream string, e []types.PutRecordsRequestEntry) *kinesis.PutRecordsOutput {
	t.Helper()
	out, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: &stream, Records: e})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	return out
}

func iter(t *testing.T, f *kinesistest.Fake, stream, shard string, typ types.ShardIteratorType, seq string) string {
	t.Helper()
	in := &kinesis.GetShardIteratorInput{StreamName: &stream, ShardId: &shard, ShardIteratorType: typ}
	if seq != "" {
		in.StartingSequenceNumber = &seq
	}
	out, err := f.GetShardIterator(context.Background(), in)
	if err != nil {
		t.Fatalf("get shard iterator: %v", err)
	}
	return *out.ShardIterator
}

func get(t *testing.T, f *kinesistest.Fake, it string, limit int32) *kinesis.GetRecordsOutput {
	t.Helper()
	in := &kinesis.GetRecordsInput{ShardIterator: &it}
	if limit > 0 {
		in.Limit = &limit
	}
	out, err := f.GetRecords(context.Background(), in)
	if err != nil {
		t.Fatalf("get records: %v", err)
	}
	return out
}

// readAll reads a shard from TRIM_HORIZON until its iterator is nil or a
// read comes back empty, and returns the records and the last reply.
func readAll(t *testing.T, f *kinesistest.Fake, stream, shard string) ([]types.Record, *kinesis.GetRecordsOutput) {
	t.Helper()
	it := ptr(iter(t, f, stream, shard, types.ShardIteratorTypeTrimHorizon, ""))
	var recs []types.Record
	for {
		out := get(t, f, *it, 0)
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil || len(out.Records) == 0 {
			return recs, out
		}
		it = out.NextShardIterator
	}
}

func listShards(t *testing.T, f *kinesistest.Fake, stream string) []types.Shard {
	t.Helper()
	out, err := f.ListShards(context.Background(), &kinesis.ListShardsInput{StreamName: &stream})
	if err != nil {
		t.Fatal(err)
	}
	return out.Shards
}

func bigInt(t *testing.T, s string) *big.Int {
	t.Helper()
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("not a decimal: %q", s)
	}
	return b
}

// wantErr fails unless err's chain holds an error of type E.
func wantErr[E error](t *testing.T, err error) E {
	t.Helper()
	e, ok := errors.AsType[E](err)
	if !ok {
		var zero E
		t.Fatalf("error %v: want %T in its chain", err, zero)
	}
	return e
}

// recorder is a TB that records reports.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func ptr[T any](v T) *T { return &v }
