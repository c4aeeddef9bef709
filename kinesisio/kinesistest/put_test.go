package kinesistest_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

func TestFake_PutGetRoundTrip(t *testing.T) {
	clk := newClock()
	f := newFake(t, "hot", 2, kinesistest.WithClock(clk.Now))
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("key-%d", i))
	}
	out := put(t, f, "hot", entries(keys...))
	if *out.FailedRecordCount != 0 || len(out.Records) != len(keys) {
		t.Fatalf("put: %d failed, %d answers", *out.FailedRecordCount, len(out.Records))
	}
	bySeq := map[string]string{} // sequence number → key
	for i, r := range out.Records {
		if r.ShardId == nil || r.SequenceNumber == nil || r.ErrorCode != nil {
			t.Fatalf("entry %d: %+v", i, r)
		}
		bySeq[*r.SequenceNumber] = keys[i]
	}

	got := 0
	for _, s := range listShards(t, f, "hot") {
		recs, last := readAll(t, f, "hot", *s.ShardId)
		if last.NextShardIterator == nil || *last.MillisBehindLatest != 0 {
			t.Errorf("open shard %s: want an iterator and 0 ms behind at the tip", *s.ShardId)
		}
		var prev *big.Int
		for _, r := range recs {
			seq := bigInt(t, *r.SequenceNumber)
			if prev != nil && seq.Cmp(prev) <= 0 {
				t.Errorf("shard %s: sequence %s after %s", *s.ShardId, seq, prev)
			}
			prev = seq
			key := bySeq[*r.SequenceNumber]
			if *r.PartitionKey != key || !bytes.Equal(r.Data, []byte("data-"+key)) {
				t.Errorf("seq %s: got key %q data %q, want key %q", *r.SequenceNumber, *r.PartitionKey, r.Data, key)
			}
			if !r.ApproximateArrivalTimestamp.Equal(clk.Now()) {
				t.Errorf("arrival %v, want %v", r.ApproximateArrivalTimestamp, clk.Now())
			}
			got++
		}
	}
	if got != len(keys) {
		t.Errorf("read %d records, want %d", got, len(keys))
	}
	if s := f.Stats(); s.PutCalls != 1 || s.PutEntries != 20 || s.Written != 20 {
		t.Errorf("stats %+v", s)
	}
}

func TestFake_SequenceNumbersIncreaseAcrossStream(t *testing.T) {
	f := newFake(t, "s", 4)
	var prev *big.Int
	for i := range 50 {
		out := put(t, f, "s", entries(fmt.Sprint(i)))
		seq := *out.Records[0].SequenceNumber
		if len(seq) != 56 {
			t.Fatalf("sequence number %q: want 56 digits", seq)
		}
		n := bigInt(t, seq)
		if prev != nil && n.Cmp(prev) <= 0 {
			t.Fatalf("sequence %s after %s", n, prev)
		}
		prev = n
	}
}

func TestPutRecords_PartialFailureKeepsLaterEntries(t *testing.T) {
	f := newFake(t, "dest", 1, kinesistest.WithSeed(7))
	if err := f.SetFaults("dest", kinesistest.Faults{PutFailRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 100 {
		keys = append(keys, fmt.Sprint("k", i))
	}
	out := put(t, f, "dest", entries(keys...))

	failed, laterOK := 0, false
	written := map[string]bool{}
	codes := map[string]int{}
	for i, r := range out.Records {
		if r.ErrorCode != nil {
			failed++
			codes[*r.ErrorCode]++
			if r.ErrorMessage == nil || r.SequenceNumber != nil || r.ShardId != nil {
				t.Errorf("failed entry %d: %+v", i, r)
			}
			continue
		}
		if failed > 0 {
			laterOK = true
		}
		written[keys[i]] = true
	}
	if failed == 0 || !laterOK {
		t.Fatalf("want some failures followed by successes, got %d failed (seed %d)", failed, f.Seed())
	}
	if int(*out.FailedRecordCount) != failed {
		t.Errorf("FailedRecordCount %d, want %d", *out.FailedRecordCount, failed)
	}
	for code := range codes {
		if code != "ProvisionedThroughputExceededException" && code != "InternalFailure" {
			t.Errorf("error code %q", code)
		}
	}
	if len(codes) != 2 {
		t.Errorf("want both error codes, got %v", codes)
	}
	stored := f.Records("dest")
	if len(stored) != len(written) {
		t.Fatalf("stored %d records, want %d", len(stored), len(written))
	}
	for _, r := range stored {
		if !written[r.PartitionKey] {
			t.Errorf("stored %q, which was answered as failed", r.PartitionKey)
		}
	}
	if s := f.Stats(); s.FailedEntries != failed || s.Written != len(written) {
		t.Errorf("stats %+v", s)
	}
}

func TestPutRecords_ExplicitHashKeyRoutesAtInclusiveBounds(t *testing.T) {
	f := newFake(t, "s", 3)
	shards := listShards(t, f, "s")
	if got := *shards[len(shards)-1].HashKeyRange.EndingHashKey; got != "340282366920938463463374607431768211455" {
		t.Fatalf("last shard ends at %s, want 2^128-1", got)
	}
	for i, s := range shards {
		for _, ehk := range []string{*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey} {
			e := types.PutRecordsRequestEntry{PartitionKey: ptr("any"), ExplicitHashKey: ptr(ehk), Data: []byte{}}
			out := put(t, f, "s", []types.PutRecordsRequestEntry{e})
			if got := *out.Records[0].ShardId; got != *s.ShardId {
				t.Errorf("EHK %s: routed to %s, want %s", ehk, got, *s.ShardId)
			}
		}
		if i > 0 {
			prevEnd := bigInt(t, *shards[i-1].HashKeyRange.EndingHashKey)
			if start := bigInt(t, *s.HashKeyRange.StartingHashKey); start.Cmp(prevEnd.Add(prevEnd, big.NewInt(1))) != 0 {
				t.Errorf("shard %d starts at %s, not right after the previous end", i, start)
			}
		}
	}
	// Without EHK, the MD5 of the key routes.
	k := "customer#42"
	hk := bigInt(t, kinesistest.HashKey(k))
	out := put(t, f, "s", entries(k))
	for _, s := range shards {
		if hk.Cmp(bigInt(t, *s.HashKeyRange.StartingHashKey)) >= 0 && hk.Cmp(bigInt(t, *s.HashKeyRange.EndingHashKey)) <= 0 {
			if *out.Records[0].ShardId != *s.ShardId {
				t.Errorf("key routed to %s, want %s", *out.Records[0].ShardId, *s.ShardId)
			}
		}
	}

	for _, bad := range []string{"340282366920938463463374607431768211456", "01", "-1", "1.5", "", "abc", strings.Repeat("9", 40)} {
		t.Run("bad "+bad, func(t *testing.T) {
			before := len(f.Records("s"))
			_, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{
				StreamName: ptr("s"),
				Records: []types.PutRecordsRequestEntry{
					{PartitionKey: ptr("a"), Data: []byte("x")},
					{PartitionKey: ptr("b"), Data: []byte("y"), ExplicitHashKey: ptr(bad)},
				},
			})
			wantErr[*types.InvalidArgumentException](t, err)
			if n := len(f.Records("s")); n != before {
				t.Errorf("rejected call wrote %d records", n-before)
			}
		})
	}
}

func TestPutRecords_InvalidRequestWritesNothing(t *testing.T) {
	mib := 1 << 20
	big := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name    string
		records []types.PutRecordsRequestEntry
		check   func(*testing.T, error)
	}{
		{"no entries", []types.PutRecordsRequestEntry{}, func(t *testing.T, err error) { wantErr[*types.ValidationException](t, err) }},
		{"501 entries", entries(make([]string, 501)...), func(t *testing.T, err error) { wantErr[*types.ValidationException](t, err) }},
		{"empty partition key", entries("a", ""), func(t *testing.T, err error) { wantErr[*types.InvalidArgumentException](t, err) }},
		{"257-character partition key", entries("a", strings.Repeat("é", 257)), func(t *testing.T, err error) { wantErr[*types.InvalidArgumentException](t, err) }},
		{"record over 1 MiB", []types.PutRecordsRequestEntry{
			{PartitionKey: ptr("a"), Data: []byte("ok")},
			{PartitionKey: ptr("bb"), Data: big(mib - 1)}, // data + key = 1 MiB + 1
		}, func(t *testing.T, err error) { wantErr[*types.InvalidArgumentException](t, err) }},
		{"request over 5 MiB", []types.PutRecordsRequestEntry{
			{PartitionKey: ptr("a"), Data: big(mib - 1)},
			{PartitionKey: ptr("b"), Data: big(mib - 1)},
			{PartitionKey: ptr("c"), Data: big(mib - 1)},
			{PartitionKey: ptr("d"), Data: big(mib - 1)},
			{PartitionKey: ptr("e"), Data: big(mib - 1)},
			{PartitionKey: ptr("f"), Data: big(1)},
		}, func(t *testing.T, err error) { wantErr[*types.InvalidArgumentException](t, err) }},
		{"nil data", []types.PutRecordsRequestEntry{{PartitionKey: ptr("a")}}, func(t *testing.T, err error) { wantErr[smithy.InvalidParamsError](t, err) }},
	}
	f := newFake(t, "s", 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: tt.records})
			tt.check(t, err)
			wantErr[*smithy.OperationError](t, err)
			if n := len(f.Records("s")); n != 0 {
				t.Errorf("rejected call wrote %d records", n)
			}
		})
	}
	t.Run("exactly 1 MiB and 5 MiB pass", func(t *testing.T) {
		e := []types.PutRecordsRequestEntry{
			{PartitionKey: ptr("a"), Data: big(mib - 1)},
			{PartitionKey: ptr("b"), Data: big(mib - 1)},
			{PartitionKey: ptr("c"), Data: big(mib - 1)},
			{PartitionKey: ptr("d"), Data: big(mib - 1)},
			{PartitionKey: ptr("e"), Data: big(mib - 1)},
		}
		put(t, f, "s", e)
		if n := len(f.Records("s")); n != 5 {
			t.Errorf("wrote %d records, want 5", n)
		}
	})
	t.Run("unknown stream", func(t *testing.T) {
		_, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: ptr("nope"), Records: entries("a")})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}

func TestPutRecords_MaxRecordSizePerStream(t *testing.T) {
	f := newFake(t, "s", 1)
	sum, err := f.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: ptr("s")})
	if err != nil {
		t.Fatal(err)
	}
	if d := sum.StreamDescriptionSummary; d.MaxRecordSizeInKiB != nil || d.StreamStatus != types.StreamStatusActive || *d.OpenShardCount != 1 {
		t.Fatalf("summary %+v", d)
	}
	e := []types.PutRecordsRequestEntry{{PartitionKey: ptr("k"), Data: make([]byte, 2<<20)}}
	_, err = f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: ptr("s"), Records: e})
	wantErr[*types.InvalidArgumentException](t, err)

	if err := f.SetMaxRecordSize("s", 4096); err != nil {
		t.Fatal(err)
	}
	put(t, f, "s", e)
	sum, err = f.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamARN: ptr(kinesistest.ARN("s"))})
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.StreamDescriptionSummary.MaxRecordSizeInKiB; got == nil || *got != 4096 {
		t.Errorf("MaxRecordSizeInKiB %v, want 4096", got)
	}
	_, err = f.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: ptr("nope")})
	wantErr[*types.ResourceNotFoundException](t, err)
}
