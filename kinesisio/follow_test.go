package kinesisio_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// followLog gathers what Follow handed over and checks its promises as
// batches arrive: Listed before any records of a shard, every batch of a
// parent before any of its children, nothing after End, each shard in
// sequence order.
type followLog struct {
	t       *testing.T
	listed  map[string]types.Shard
	ended   map[string]bool
	lastSeq map[string]string
	data    map[string]int // payload -> times seen
	records int
}

func newFollowLog(t *testing.T) *followLog {
	return &followLog{t: t, listed: map[string]types.Shard{}, ended: map[string]bool{},
		lastSeq: map[string]string{}, data: map[string]int{}}
}

func (l *followLog) add(b kinesisio.ShardBatch) {
	l.t.Helper()
	id := aws.ToString(b.Shard.ShardId)
	if b.Listed {
		if _, dup := l.listed[id]; dup {
			l.t.Fatalf("shard %s listed twice", id)
		}
		l.listed[id] = b.Shard
		return
	}
	sh, ok := l.listed[id]
	if !ok {
		l.t.Fatalf("batch of %s before it was listed", id)
	}
	if l.ended[id] {
		l.t.Fatalf("batch of %s after its end", id)
	}
	for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
		if p != nil && !l.ended[*p] {
			l.t.Fatalf("batch of %s before its parent %s ended", id, *p)
		}
	}
	for _, r := range b.Records {
		seq := aws.ToString(r.SequenceNumber)
		if seq <= l.lastSeq[id] { // equal-length decimals: string order is number order
			l.t.Fatalf("shard %s: sequence %s after %s", id, seq, l.lastSeq[id])
		}
		l.lastSeq[id] = seq
		l.data[string(r.Data)]++
		l.records++
	}
	l.ended[id] = b.End
}

// until receives batches until done says so, failing after a minute of
// (synctest) time.
func (l *followLog) until(out <-chan kinesisio.ShardBatch, what string, done func() bool) {
	l.t.Helper()
	timeout := time.After(time.Minute)
	for !done() {
		select {
		case b := <-out:
			l.add(b)
		case <-timeout:
			l.t.Fatalf("no %s after a minute: %d records, shards %v, ended %v", what, l.records, keys(l.listed), l.ended)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func putN(t *testing.T, f *kinesistest.Fake, stream string, from, n int) {
	t.Helper()
	var entries []types.PutRecordsRequestEntry
	for i := from; i < from+n; i++ {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint("k", i)), Data: fmt.Appendf(nil, "rec-%04d", i)})
	}
	out, err := f.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("put: %v", err)
	}
}

// TestFollow_ReadsOnAcrossSplitAndMerge: Follow keeps reading as records
// arrive, picks up the children of a split and a merge on its next
// listing, reads every parent before its children, and, under read faults
// (expired iterators, 500s, empty reads), hands over each record exactly
// once, in order.
func TestFollow_ReadsOnAcrossSplitAndMerge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const stream = "s"
		f := kinesistest.New(kinesistest.WithT(t), kinesistest.WithSeed(7))
		must(t, f.CreateStream(stream, 1))
		must(t, f.SetFaults(stream, kinesistest.Faults{ExpireIteratorRate: 0.1, GetErrRate: 0.1, EmptyReadRate: 0.2}))
		putN(t, f, stream, 0, 50)

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		cfg := kinesisio.DefaultFollowConfig()
		cfg.ShardRefresh = 2 * time.Second
		cfg.Limit = 7 // several calls per shard
		out := make(chan kinesisio.ShardBatch)
		done := make(chan error, 1)
		go func() { done <- kinesisio.Follow(ctx, f, stream, cfg, zerolog.New(zerolog.NewTestWriter(t)), out) }()

		l := newFollowLog(t)
		l.until(out, "first 50 records", func() bool { return l.records == 50 })

		must(t, f.SplitShard(stream, "shardId-000000000000", "170141183460469231731687303715884105728"))
		putN(t, f, stream, 50, 50)
		l.until(out, "records after the split", func() bool { return l.records == 100 })
		if !l.ended["shardId-000000000000"] || len(l.listed) != 3 {
			t.Fatalf("after split: listed %v, ended %v", keys(l.listed), l.ended)
		}

		must(t, f.MergeShards(stream, "shardId-000000000001", "shardId-000000000002"))
		putN(t, f, stream, 100, 50)
		l.until(out, "records after the merge", func() bool { return l.records == 150 })

		for i := range 150 {
			if n := l.data[fmt.Sprintf("rec-%04d", i)]; n != 1 {
				t.Fatalf("rec-%04d handed over %d times", i, n)
			}
		}
		// Idle, only the merged shard is read: at most 5 calls a second.
		before := f.StreamStats(stream).GetCalls
		time.Sleep(10 * time.Second)
		if calls := f.StreamStats(stream).GetCalls - before; calls > 51 {
			t.Fatalf("%d GetRecords calls in 10s on one open shard, want ≤ 50", calls)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Follow after cancel: %v, want context.Canceled", err)
		}
	})
}

// TestFollow_StopsOnFatalError: a stream that does not exist is an error,
// not a retry loop.
func TestFollow_StopsOnFatalError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := kinesistest.New(kinesistest.WithT(t))
		out := make(chan kinesisio.ShardBatch)
		err := kinesisio.Follow(t.Context(), f, "nope", kinesisio.DefaultFollowConfig(), zerolog.Nop(), out)
		var nf *types.ResourceNotFoundException
		if !errors.As(err, &nf) || !strings.Contains(err.Error(), "list shards of nope") {
			t.Fatalf("err %v, want a wrapped ResourceNotFoundException", err)
		}
	})
}

func TestFollowConfig_ValidateReportsEveryBadField(t *testing.T) {
	err := kinesisio.FollowConfig{PollInterval: time.Millisecond, Limit: 0}.Validate()
	for _, want := range []string{"poll-interval 1ms", "shard-refresh 0s", "limit 0", "retry back-off"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want it to mention %q", err, want)
		}
	}
	if err := kinesisio.DefaultFollowConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}
