package kinesistest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

func TestGetShardIterator_Types(t *testing.T) {
	clk := newClock()
	f := newFake(t, "s", 1, kinesistest.WithClock(clk.Now))
	const shard = "shardId-000000000000"
	put(t, f, "s", entries("a", "b"))
	clk.Advance(time.Second)
	mid := clk.Now()
	out := put(t, f, "s", entries("c", "d"))
	seqC := *out.Records[0].SequenceNumber
	latest := iter(t, f, "s", shard, types.ShardIteratorTypeLatest, "")

	keys := func(recs []types.Record) string {
		s := ""
		for _, r := range recs {
			s += *r.PartitionKey
		}
		return s
	}
	tests := []struct {
		name string
		it   func() string
		want string
	}{
		{"TRIM_HORIZON", func() string { return iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, "") }, "abcd"},
		{"AT_SEQUENCE_NUMBER", func() string { return iter(t, f, "s", shard, types.ShardIteratorTypeAtSequenceNumber, seqC) }, "cd"},
		{"AFTER_SEQUENCE_NUMBER", func() string { return iter(t, f, "s", shard, types.ShardIteratorTypeAfterSequenceNumber, seqC) }, "d"},
		{"AT_TIMESTAMP", func() string {
			o, err := f.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
				StreamName: ptr("s"), ShardId: ptr(shard), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: &mid,
			})
			if err != nil {
				t.Fatal(err)
			}
			return *o.ShardIterator
		}, "cd"},
		{"LATEST then a write", func() string { return latest }, "e"},
	}
	put(t, f, "s", entries("e"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			it := tt.it()
			if tt.name != "LATEST then a write" {
				// Iterators taken now see "e" too.
				tt.want += "e"
			}
			if got := keys(get(t, f, it, 0).Records); got != tt.want {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("sequence number of another shard", func(t *testing.T) {
		g := newFake(t, "two", 2)
		out := put(t, g, "two", entries("x"))
		other := "shardId-000000000000"
		if *out.Records[0].ShardId == other {
			other = "shardId-000000000001"
		}
		_, err := g.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
			StreamName: ptr("two"), ShardId: &other,
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: out.Records[0].SequenceNumber,
		})
		wantErr[*types.InvalidArgumentException](t, err)
	})
	t.Run("unknown shard", func(t *testing.T) {
		_, err := f.GetShardIterator(context.Background(), &kinesis.GetShardIteratorInput{
			StreamName: ptr("s"), ShardId: ptr("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeLatest,
		})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
	t.Run("iterator of another fake", func(t *testing.T) {
		g := newFake(t, "s", 1)
		_, err := g.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: ptr(latest)})
		wantErr[*types.InvalidArgumentException](t, err)
	})
}

func TestGetRecords_LimitAndLag(t *testing.T) {
	clk := newClock()
	f := newFake(t, "s", 1, kinesistest.WithClock(clk.Now))
	for i := range 5 {
		put(t, f, "s", entries(fmt.Sprint(i)))
		clk.Advance(100 * time.Millisecond)
	}
	it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
	out := get(t, f, it, 2)
	if len(out.Records) != 2 || *out.MillisBehindLatest != 300 {
		t.Fatalf("got %d records, %d ms behind; want 2, 300", len(out.Records), *out.MillisBehindLatest)
	}
	out = get(t, f, *out.NextShardIterator, 10)
	if len(out.Records) != 3 || *out.MillisBehindLatest != 0 {
		t.Fatalf("got %d records, %d ms behind; want 3, 0", len(out.Records), *out.MillisBehindLatest)
	}
	out = get(t, f, *out.NextShardIterator, 0)
	if len(out.Records) != 0 || out.NextShardIterator == nil {
		t.Fatalf("at the tip of an open shard: want no records and an iterator, got %d, %v", len(out.Records), out.NextShardIterator)
	}
	for _, bad := range []int32{0, 10001} {
		_, err := f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: &it, Limit: &bad})
		wantErr[*types.ValidationException](t, err)
	}
}

func TestGetRecords_ClosedShardEndsWithChildShards(t *testing.T) {
	for _, kinesalite := range []bool{false, true} {
		t.Run(fmt.Sprintf("kinesalite=%v", kinesalite), func(t *testing.T) {
			var opts []kinesistest.Option
			if kinesalite {
				opts = append(opts, kinesistest.WithoutChildShards())
			}
			f := newFake(t, "s", 1, opts...)
			put(t, f, "s", entries("a", "b", "c"))
			const parent = "shardId-000000000000"
			it := iter(t, f, "s", parent, types.ShardIteratorTypeTrimHorizon, "")
			if err := f.SplitShard("s", parent, "170141183460469231731687303715884105728"); err != nil {
				t.Fatal(err)
			}

			out := get(t, f, it, 0)
			if len(out.Records) != 3 || out.NextShardIterator == nil || len(out.ChildShards) != 0 {
				t.Fatalf("last records: got %d records, iterator %v, %d children; want 3, an iterator, none",
					len(out.Records), out.NextShardIterator, len(out.ChildShards))
			}
			end := get(t, f, *out.NextShardIterator, 0)
			if len(end.Records) != 0 || end.NextShardIterator != nil {
				t.Fatalf("shard end: got %d records, iterator %v; want none, nil", len(end.Records), end.NextShardIterator)
			}
			if kinesalite {
				if len(end.ChildShards) != 0 {
					t.Errorf("WithoutChildShards: got %d children", len(end.ChildShards))
				}
				return
			}
			if len(end.ChildShards) != 2 {
				t.Fatalf("got %d children, want 2", len(end.ChildShards))
			}
			for i, c := range end.ChildShards {
				if want := fmt.Sprintf("shardId-%012d", i+1); *c.ShardId != want || len(c.ParentShards) != 1 || c.ParentShards[0] != parent {
					t.Errorf("child %d: %s parents %v, want %s parent %s", i, *c.ShardId, c.ParentShards, want, parent)
				}
			}
			// The end is stable, and AFTER the ending sequence number is the end too.
			shards := listShards(t, f, "s")
			endSeq := *shards[0].SequenceNumberRange.EndingSequenceNumber
			again := get(t, f, iter(t, f, "s", parent, types.ShardIteratorTypeAfterSequenceNumber, endSeq), 0)
			if len(again.Records) != 0 || again.NextShardIterator != nil || len(again.ChildShards) != 2 {
				t.Errorf("after ending sequence number: %+v", again)
			}
		})
	}
}

func TestGetRecords_IteratorExpiresAfterFiveMinutes(t *testing.T) {
	clk := newClock()
	f := newFake(t, "s", 1, kinesistest.WithClock(clk.Now))
	put(t, f, "s", entries("a"))
	it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")

	clk.Advance(5 * time.Minute)
	out := get(t, f, it, 0) // exactly 5 minutes: still good
	clk.Advance(time.Millisecond)
	_, err := f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: &it})
	wantErr[*types.ExpiredIteratorException](t, err)

	// NextShardIterator was issued at the read, so it lives on.
	clk.Advance(4 * time.Minute)
	get(t, f, *out.NextShardIterator, 0)
	clk.Advance(2 * time.Minute)
	_, err = f.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	wantErr[*types.ExpiredIteratorException](t, err)
}
