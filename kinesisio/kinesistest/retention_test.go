package kinesistest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

func keysOf(recs []types.Record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(*r.PartitionKey)
	}
	return b.String()
}

func TestTrim_DropsThroughSeqAndReadsGoOn(t *testing.T) {
	f := newFake(t, "s", 1)
	const shard = "shardId-000000000000"
	out := put(t, f, "s", entries("a", "b", "c", "d"))
	seqB := *out.Records[1].SequenceNumber
	early := iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, "")
	atA := iter(t, f, "s", shard, types.ShardIteratorTypeAtSequenceNumber, *out.Records[0].SequenceNumber)

	n, err := f.Trim("s", shard, seqB)
	if err != nil || n != 2 {
		t.Fatalf("Trim = %d, %v; want 2 records dropped", n, err)
	}
	put(t, f, "s", entries("e"))
	for _, tc := range []struct{ name, it, want string }{
		{"iterator taken before the trim", early, "cde"},
		{"iterator on a trimmed record", atA, "cde"},
		{"TRIM_HORIZON after the trim", iter(t, f, "s", shard, types.ShardIteratorTypeTrimHorizon, ""), "cde"},
		{"AFTER_SEQUENCE_NUMBER of a trimmed record", iter(t, f, "s", shard, types.ShardIteratorTypeAfterSequenceNumber, seqB), "cde"},
		{"AT_SEQUENCE_NUMBER of a kept record", iter(t, f, "s", shard, types.ShardIteratorTypeAtSequenceNumber, *out.Records[3].SequenceNumber), "de"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keysOf(get(t, f, tc.it, 0).Records); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
	if got := len(f.Records("s")); got != 3 {
		t.Errorf("Records after trim: %d, want 3", got)
	}
	if got := f.Unread("s"); got != 0 {
		t.Errorf("Unread after every record was read: %d", got)
	}
	put(t, f, "s", entries("f", "g"))
	if got := f.Unread("s"); got != 2 {
		t.Errorf("Unread after two writes: %d, want 2", got)
	}
	if _, err := f.Trim("s", shard, "x"); err == nil {
		t.Error("Trim accepted a bad sequence number")
	}
}

func TestDiscardRecords_VisitsInWriteOrderThenForgets(t *testing.T) {
	f := newFake(t, "s", 4)
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("k%d", i%7))
	}
	put(t, f, "s", entries(keys[:20]...))
	put(t, f, "s", entries(keys[20:]...))
	perShard := map[string]string{}
	want := map[string]string{}
	for _, r := range f.Records("s") {
		want[r.ShardID] += r.PartitionKey + string(r.Data) + ";"
	}
	n, err := f.DiscardRecords("s", func(shardID, pk string, data []byte) {
		perShard[shardID] += pk + string(data) + ";"
	})
	if err != nil || n != 40 {
		t.Fatalf("DiscardRecords = %d, %v; want 40", n, err)
	}
	for id, w := range want {
		if perShard[id] != w {
			t.Errorf("shard %s visited %q, want %q", id, perShard[id], w)
		}
	}
	if got := len(f.Records("s")); got != 0 {
		t.Errorf("%d records left", got)
	}
	put(t, f, "s", entries("k0"))
	if got := len(f.Records("s")); got != 1 {
		t.Errorf("after a new write: %d records, want 1", got)
	}
	if n, _ := f.DiscardRecords("s", nil); n != 1 {
		t.Errorf("second discard: %d, want 1", n)
	}
}

// TestPutRecords_AllocationsPerEntryAreTheRecords pins the fake's cost: a
// long benchmark must measure the relay, not the fake. Per entry it may
// allocate the record's own data and sequence number, nothing else.
func TestPutRecords_AllocationsPerEntryAreTheRecords(t *testing.T) {
	f := kinesistest.New(kinesistest.WithSeed(1))
	if err := f.CreateStream("s", 16); err != nil {
		t.Fatal(err)
	}
	allocs := func(n int) float64 {
		e := make([]types.PutRecordsRequestEntry, n)
		for i := range e {
			e[i] = types.PutRecordsRequestEntry{PartitionKey: ptr(fmt.Sprintf("key-%d", i)), Data: []byte("payload")}
		}
		in := &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: e}
		return testing.AllocsPerRun(20, func() {
			if _, err := f.PutRecords(context.Background(), in); err != nil {
				t.Fatal(err)
			}
			if _, err := f.DiscardRecords("s", nil); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(100), allocs(500)
	if perEntry := (large - small) / 400; perEntry > 2 {
		t.Errorf("PutRecords: %v allocations for 100 entries, %v for 500: %.2f per entry, want at most 2 (data, sequence number)", small, large, perEntry)
	}
}

func TestGetRecords_AllocationsPerCallNotPerRecord(t *testing.T) {
	allocs := func(n int) float64 {
		f := kinesistest.New(kinesistest.WithSeed(1))
		if err := f.CreateStream("s", 1); err != nil {
			t.Fatal(err)
		}
		e := make([]types.PutRecordsRequestEntry, n)
		for i := range e {
			e[i] = types.PutRecordsRequestEntry{PartitionKey: ptr(fmt.Sprintf("key-%d", i)), Data: []byte("payload")}
		}
		put(t, f, "s", e)
		it := iter(t, f, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, "")
		return testing.AllocsPerRun(20, func() {
			if out := get(t, f, it, 0); len(out.Records) != n {
				t.Fatalf("%d records, want %d", len(out.Records), n)
			}
		})
	}
	small, large := allocs(10), allocs(500)
	if large > small+2 { // slack: the iterator token's digits
		t.Errorf("GetRecords: %v allocations for 10 records, %v for 500: want a per-call cost", small, large)
	}
}
