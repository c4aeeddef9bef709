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

func TestCreateStream_SplitsKeySpaceEvenly(t *testing.T) {
	f := newFake(t, "s", 4)
	want := [][2]string{
		{"0", "85070591730234615865843651857942052863"},
		{"85070591730234615865843651857942052864", "170141183460469231731687303715884105727"},
		{"170141183460469231731687303715884105728", "255211775190703847597530955573826158591"},
		{"255211775190703847597530955573826158592", "340282366920938463463374607431768211455"},
	}
	for i, s := range listShards(t, f, "s") {
		if id := fmt.Sprintf("shardId-%012d", i); *s.ShardId != id {
			t.Errorf("shard %d id %s, want %s", i, *s.ShardId, id)
		}
		got := [2]string{*s.HashKeyRange.StartingHashKey, *s.HashKeyRange.EndingHashKey}
		if got != want[i] {
			t.Errorf("shard %d range %v, want %v", i, got, want[i])
		}
		if s.ParentShardId != nil || s.SequenceNumberRange.EndingSequenceNumber != nil {
			t.Errorf("shard %d: %+v", i, s)
		}
	}
}

func TestReshard_SplitAndMergeLineage(t *testing.T) {
	f := newFake(t, "s", 2)
	const half = "170141183460469231731687303715884105728" // 2^127, start of shard 1
	if err := f.SplitShard("s", "shardId-000000000000", "1000"); err != nil {
		t.Fatal(err)
	}
	shards := listShards(t, f, "s")
	if len(shards) != 4 {
		t.Fatalf("%d shards after split, want 4", len(shards))
	}
	parent, left, right := shards[0], shards[2], shards[3]
	if parent.SequenceNumberRange.EndingSequenceNumber == nil {
		t.Fatal("split parent still open")
	}
	for _, c := range []types.Shard{left, right} {
		if c.ParentShardId == nil || *c.ParentShardId != "shardId-000000000000" || c.AdjacentParentShardId != nil {
			t.Errorf("child %s: parent %v adjacent %v", *c.ShardId, c.ParentShardId, c.AdjacentParentShardId)
		}
		if bigInt(t, *c.SequenceNumberRange.StartingSequenceNumber).Cmp(bigInt(t, *parent.SequenceNumberRange.EndingSequenceNumber)) <= 0 {
			t.Errorf("child %s starts at or below the parent's end", *c.ShardId)
		}
	}
	if r := left.HashKeyRange; *r.StartingHashKey != "0" || *r.EndingHashKey != "999" {
		t.Errorf("left child range %s..%s", *r.StartingHashKey, *r.EndingHashKey)
	}
	if r := right.HashKeyRange; *r.StartingHashKey != "1000" || *r.EndingHashKey != "170141183460469231731687303715884105727" {
		t.Errorf("right child range %s..%s", *r.StartingHashKey, *r.EndingHashKey)
	}

	// Writes go to the children; the closed parent takes none.
	out := put(t, f, "s", []types.PutRecordsRequestEntry{
		{PartitionKey: ptr("k"), ExplicitHashKey: ptr("999"), Data: []byte{}},
		{PartitionKey: ptr("k"), ExplicitHashKey: ptr("1000"), Data: []byte{}},
	})
	if *out.Records[0].ShardId != *left.ShardId || *out.Records[1].ShardId != *right.ShardId {
		t.Errorf("routed to %s, %s", *out.Records[0].ShardId, *out.Records[1].ShardId)
	}

	// Merge the right child with the old shard 1, given in reverse order.
	if err := f.MergeShards("s", "shardId-000000000001", *right.ShardId); err != nil {
		t.Fatal(err)
	}
	shards = listShards(t, f, "s")
	merged := shards[4]
	if *merged.ParentShardId != "shardId-000000000001" || *merged.AdjacentParentShardId != *right.ShardId {
		t.Errorf("merged lineage %v / %v", *merged.ParentShardId, *merged.AdjacentParentShardId)
	}
	if r := merged.HashKeyRange; *r.StartingHashKey != "1000" || *r.EndingHashKey != "340282366920938463463374607431768211455" {
		t.Errorf("merged range %s..%s", *r.StartingHashKey, *r.EndingHashKey)
	}
	_, end := readAll(t, f, "s", "shardId-000000000001")
	if len(end.ChildShards) != 1 || *end.ChildShards[0].ShardId != *merged.ShardId ||
		fmt.Sprint(end.ChildShards[0].ParentShards) != fmt.Sprint([]string{"shardId-000000000001", *right.ShardId}) {
		t.Errorf("merge parent's ChildShards %+v", end.ChildShards)
	}

	sum, err := f.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: ptr("s")})
	if err != nil {
		t.Fatal(err)
	}
	if n := *sum.StreamDescriptionSummary.OpenShardCount; n != 2 {
		t.Errorf("OpenShardCount %d, want 2", n)
	}

	for _, tt := range []struct{ name, shard, key string }{
		{"closed shard", "shardId-000000000000", "5"},
		{"key at the start", "shardId-000000000002", "0"},
		{"key past the end", "shardId-000000000002", "1000"},
		{"unknown shard", "shardId-000000000099", "5"},
	} {
		if err := f.SplitShard("s", tt.shard, tt.key); err == nil {
			t.Errorf("split %s: want an error", tt.name)
		}
	}
	if err := f.MergeShards("s", "shardId-000000000002", "shardId-000000000004"); err != nil {
		t.Errorf("merge adjacent: %v", err)
	}
	if err := f.SplitShard("s", "shardId-000000000005", half); err != nil {
		t.Errorf("split merged: %v", err)
	}
	if err := f.MergeShards("s", "shardId-000000000006", "shardId-000000000006"); err == nil {
		t.Error("merge with itself: want an error")
	}
}

func TestListShards_Pagination(t *testing.T) {
	clk := newClock()
	f := newFake(t, "s", 5, kinesistest.WithClock(clk.Now))
	ctx := context.Background()

	var ids []string
	out, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: ptr("s"), MaxResults: ptr(int32(2))})
	for pages := 1; ; pages++ {
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Shards {
			ids = append(ids, *s.ShardId)
		}
		if out.NextToken == nil {
			if pages != 3 {
				t.Errorf("%d pages, want 3", pages)
			}
			break
		}
		out, err = f.ListShards(ctx, &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: ptr(int32(2))})
	}
	if fmt.Sprint(ids) != fmt.Sprint([]string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003", "shardId-000000000004"}) {
		t.Errorf("ids %v", ids)
	}

	first, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: ptr("s"), MaxResults: ptr(int32(1))})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("NextToken with StreamName", func(t *testing.T) {
		_, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: ptr("s"), NextToken: first.NextToken})
		wantErr[*types.InvalidArgumentException](t, err)
	})
	t.Run("NextToken expires after 300 s", func(t *testing.T) {
		clk.Advance(301 * time.Second)
		_, err := f.ListShards(ctx, &kinesis.ListShardsInput{NextToken: first.NextToken})
		wantErr[*types.ExpiredNextTokenException](t, err)
	})
	t.Run("AT_LATEST lists open shards", func(t *testing.T) {
		if err := f.MergeShards("s", "shardId-000000000000", "shardId-000000000001"); err != nil {
			t.Fatal(err)
		}
		out, err := f.ListShards(ctx, &kinesis.ListShardsInput{
			StreamARN: ptr(kinesistest.ARN("s")), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range out.Shards {
			got = append(got, *s.ShardId)
		}
		if fmt.Sprint(got) != "[shardId-000000000002 shardId-000000000003 shardId-000000000004 shardId-000000000005]" {
			t.Errorf("open shards %v", got)
		}
		if all := listShards(t, f, "s"); len(all) != 6 {
			t.Errorf("default filter lists %d shards, want all 6", len(all))
		}
	})
	t.Run("ExclusiveStartShardId", func(t *testing.T) {
		out, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: ptr("s"), ExclusiveStartShardId: ptr("shardId-000000000003")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Shards) != 2 || *out.Shards[0].ShardId != "shardId-000000000004" {
			t.Errorf("after shard 3: %d shards", len(out.Shards))
		}
	})
	t.Run("unknown stream", func(t *testing.T) {
		_, err := f.ListShards(ctx, &kinesis.ListShardsInput{StreamName: ptr("nope")})
		wantErr[*types.ResourceNotFoundException](t, err)
	})
}
