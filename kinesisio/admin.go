package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/repartd/repartd/repartition"
)

// StreamAdmin creates and deletes streams: used by the demo, tests and
// benchmarks, never by the relay.
type StreamAdmin interface {
	CreateStream(context.Context, *kinesis.CreateStreamInput, ...func(*kinesis.Options)) (*kinesis.CreateStreamOutput, error)
	DeleteStream(context.Context, *kinesis.DeleteStreamInput, ...func(*kinesis.Options)) (*kinesis.DeleteStreamOutput, error)
	StreamDescriber
}

var _ StreamAdmin = (*kinesis.Client)(nil)

// CreateStream creates a provisioned stream with n shards (or ON_DEMAND if
// n is 0) and waits until it is ACTIVE. An existing stream is an error.
func CreateStream(ctx context.Context, c StreamAdmin, name string, n int) error {
	in := &kinesis.CreateStreamInput{StreamName: aws.String(name)}
	if n > 0 {
		in.ShardCount = aws.Int32(int32(n))
	} else {
		in.StreamModeDetails = &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}
	}
	if _, err := c.CreateStream(ctx, in); err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	return WaitActive(ctx, c, name)
}

// WaitActive polls until the stream is ACTIVE.
func WaitActive(ctx context.Context, c StreamDescriber, name string) error {
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		var nf *types.ResourceNotFoundException
		switch {
		case errors.As(err, &nf):
		case err != nil:
			return fmt.Errorf("describe stream %s: %w", name, err)
		case out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive:
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// DeleteStream deletes a stream; a missing stream is not an error.
func DeleteStream(ctx context.Context, c StreamAdmin, name string) error {
	_, err := c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
	var nf *types.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("delete stream %s: %w", name, err)
	}
	return nil
}

// ShardRecords is one shard's records as read by ReadAll.
type ShardRecords struct {
	Shard   types.Shard
	Records []types.Record
}

// ReadAll reads every shard of stream from TRIM_HORIZON to its current end,
// parents before children, and calls fn for each shard in that order. It
// polls each shard at most 5 times a second. A shard is at its end when a
// read returns nothing and is not behind, or the shard is closed and read
// through.
func ReadAll(ctx context.Context, src Source, stream string, fn func(ShardRecords) error) error {
	shards, err := listShards(ctx, src, stream)
	if err != nil {
		return fmt.Errorf("list shards of %s: %w", stream, err)
	}
	for _, sh := range LineageOrder(shards) {
		recs, err := readShard(ctx, src, stream, aws.ToString(sh.ShardId))
		if err != nil {
			return err
		}
		if err := fn(ShardRecords{Shard: sh, Records: recs}); err != nil {
			return err
		}
	}
	return nil
}

func readShard(ctx context.Context, src Source, stream, shard string) ([]types.Record, error) {
	it, err := src.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return nil, fmt.Errorf("get shard iterator %s/%s: %w", stream, shard, err)
	}
	iter := it.ShardIterator
	var recs []types.Record
	bo := backoff{base: 200 * time.Millisecond, max: 5 * time.Second}
	last := time.Time{}
	for iter != nil {
		if wait := 200*time.Millisecond - time.Since(last); wait > 0 && !last.IsZero() {
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		last = time.Now()
		out, err := src.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(MaxGetLimit)})
		if err != nil {
			if c := classify(ctx, err); c == classThrottled || c == classAmbiguous {
				if err := sleep(ctx, bo.next()); err != nil {
					return nil, err
				}
				continue
			}
			return nil, fmt.Errorf("get records %s/%s: %w", stream, shard, err)
		}
		recs = append(recs, out.Records...)
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return recs, nil
}

// LineageOrder orders shards so that every parent (and adjacent parent)
// comes before its children; ties keep hash-key order.
func LineageOrder(shards []types.Shard) []types.Shard {
	byID := map[string]types.Shard{}
	for _, s := range shards {
		byID[aws.ToString(s.ShardId)] = s
	}
	sorted := slices.Clone(shards)
	slices.SortStableFunc(sorted, func(a, b types.Shard) int {
		return startingHashKey(a).Cmp(startingHashKey(b))
	})
	var out []types.Shard
	done := map[string]bool{}
	var visit func(s types.Shard)
	visit = func(s types.Shard) {
		id := aws.ToString(s.ShardId)
		if done[id] {
			return
		}
		done[id] = true
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if ps, ok := byID[aws.ToString(p)]; ok {
				visit(ps)
			}
		}
		out = append(out, s)
	}
	for _, s := range sorted {
		visit(s)
	}
	return out
}

func startingHashKey(s types.Shard) *big.Int {
	n := new(big.Int)
	if s.HashKeyRange != nil {
		n.SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
	}
	return n
}

// Lanes returns the open shards of a listing as scheduler lanes, sorted by
// starting hash key.
func Lanes(shards []types.Shard) []repartition.LaneStart {
	type open struct {
		start *big.Int
		dec   string
	}
	var os []open
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		if s.HashKeyRange == nil {
			continue
		}
		os = append(os, open{startingHashKey(s), aws.ToString(s.HashKeyRange.StartingHashKey)})
	}
	slices.SortFunc(os, func(a, b open) int { return a.start.Cmp(b.start) })
	out := make([]repartition.LaneStart, len(os))
	mask := new(big.Int).SetUint64(^uint64(0))
	for i, o := range os {
		hi := new(big.Int).Rsh(o.start, 64)
		lo := new(big.Int).And(o.start, mask)
		out[i] = repartition.LaneStart{Hi: hi.Uint64(), Lo: lo.Uint64(), HashKey: o.dec}
	}
	return out
}

// ShardForHashKey returns the id of the open shard whose hash key range
// holds h, or "".
func ShardForHashKey(shards []types.Shard, h *big.Int) string {
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil {
			continue
		}
		if s.HashKeyRange == nil {
			continue
		}
		lo, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.StartingHashKey), 10)
		hi, _ := new(big.Int).SetString(aws.ToString(s.HashKeyRange.EndingHashKey), 10)
		if lo != nil && hi != nil && h.Cmp(lo) >= 0 && h.Cmp(hi) <= 0 {
			return aws.ToString(s.ShardId)
		}
	}
	return ""
}

// PutAll writes records to stream in order with PutRecords, at most 500 per
// call, retrying failed entries (and only them) until all are written. It
// is the loader's writer, not the relay's: it keeps one call in flight.
func PutAll(ctx context.Context, dst RecordPutter, stream string, entries []types.PutRecordsRequestEntry) (retries int, err error) {
	bo := backoff{base: 50 * time.Millisecond, max: 2 * time.Second}
	for len(entries) > 0 {
		n := 0
		size := 0
		for n < len(entries) && n < MaxPutEntries {
			sz := len(entries[n].Data) + len(aws.ToString(entries[n].PartitionKey))
			if n > 0 && size+sz > MaxPutRequestBytes {
				break
			}
			size += sz
			n++
		}
		batch := entries[:n]
		out, err := dst.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: batch})
		if err != nil {
			if c := classify(ctx, err); c == classFatal || c == classCanceled {
				return retries, fmt.Errorf("put records to %s: %w", stream, err)
			}
			retries++
			if err := sleep(ctx, bo.next()); err != nil {
				return retries, err
			}
			continue
		}
		var failed []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, batch[i])
			}
		}
		if len(failed) > 0 {
			retries += len(failed)
			entries = append(failed, entries[n:]...)
			if err := sleep(ctx, bo.next()); err != nil {
				return retries, err
			}
			continue
		}
		bo.reset()
		entries = entries[n:]
	}
	return retries, nil
}

// Resharder splits and merges a stream's shards: used by tests and
// benchmarks to reshard under a running relay, never by the relay.
// Failure modes: LimitExceededException (too many shards, or a reshard
// already under way), ResourceInUseException (the stream is not ACTIVE),
// InvalidArgumentException (a closed shard, a hash key outside the shard,
// shards that are not adjacent).
type Resharder interface {
	SplitShard(context.Context, *kinesis.SplitShardInput, ...func(*kinesis.Options)) (*kinesis.SplitShardOutput, error)
	MergeShards(context.Context, *kinesis.MergeShardsInput, ...func(*kinesis.Options)) (*kinesis.MergeShardsOutput, error)
	ShardLister
	StreamDescriber
}

var _ Resharder = (*kinesis.Client)(nil)

// SplitShard splits an open shard at the middle of its hash key range,
// waits until the stream is ACTIVE again and returns the two children, the
// lower hash keys first.
func SplitShard(ctx context.Context, c Resharder, stream, shard string) (lower, upper string, err error) {
	shards, err := listShards(ctx, c, stream)
	if err != nil {
		return "", "", fmt.Errorf("list shards of %s: %w", stream, err)
	}
	var parent *types.Shard
	for i := range shards {
		if aws.ToString(shards[i].ShardId) == shard {
			parent = &shards[i]
		}
	}
	if parent == nil || parent.HashKeyRange == nil {
		return "", "", fmt.Errorf("split %s/%s: no such shard", stream, shard)
	}
	lo, _ := new(big.Int).SetString(aws.ToString(parent.HashKeyRange.StartingHashKey), 10)
	hi, _ := new(big.Int).SetString(aws.ToString(parent.HashKeyRange.EndingHashKey), 10)
	if lo == nil || hi == nil || hi.Cmp(lo) <= 0 {
		return "", "", fmt.Errorf("split %s/%s: hash key range %v..%v cannot be split", stream, shard, lo, hi)
	}
	mid := new(big.Int).Add(lo, hi)
	mid.Add(mid, big.NewInt(1)).Rsh(mid, 1) // the upper child starts here: lo < mid ≤ hi
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{
		StreamName: aws.String(stream), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(mid.String()),
	}); err != nil {
		return "", "", fmt.Errorf("split %s/%s: %w", stream, shard, err)
	}
	children, err := waitChildren(ctx, c, stream, shard, "", 2)
	if err != nil {
		return "", "", fmt.Errorf("split %s/%s: %w", stream, shard, err)
	}
	return aws.ToString(children[0].ShardId), aws.ToString(children[1].ShardId), nil
}

// MergeShards merges two adjacent open shards, waits until the stream is
// ACTIVE again and returns the child.
func MergeShards(ctx context.Context, c Resharder, stream, shard, adjacent string) (string, error) {
	if _, err := c.MergeShards(ctx, &kinesis.MergeShardsInput{
		StreamName: aws.String(stream), ShardToMerge: aws.String(shard), AdjacentShardToMerge: aws.String(adjacent),
	}); err != nil {
		return "", fmt.Errorf("merge %s/%s and %s: %w", stream, shard, adjacent, err)
	}
	children, err := waitChildren(ctx, c, stream, shard, adjacent, 1)
	if err != nil {
		return "", fmt.Errorf("merge %s/%s and %s: %w", stream, shard, adjacent, err)
	}
	return aws.ToString(children[0].ShardId), nil
}

// waitChildren waits until the stream is ACTIVE and lists want shards whose
// parent is parent (and, if set, whose adjacent parent is adjacent), and
// returns them by starting hash key. Emulators may report ACTIVE a moment
// before the new shards are listed, so it polls for them too.
func waitChildren(ctx context.Context, c Resharder, stream, parent, adjacent string, want int) ([]types.Shard, error) {
	for {
		if err := WaitActive(ctx, c, stream); err != nil {
			return nil, err
		}
		shards, err := listShards(ctx, c, stream)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", stream, err)
		}
		var out []types.Shard
		for _, s := range shards {
			p, a := aws.ToString(s.ParentShardId), aws.ToString(s.AdjacentParentShardId)
			if adjacent == "" && p == parent || adjacent != "" && (p == parent && a == adjacent || p == adjacent && a == parent) {
				out = append(out, s)
			}
		}
		switch {
		case len(out) == want:
			slices.SortFunc(out, func(a, b types.Shard) int { return startingHashKey(a).Cmp(startingHashKey(b)) })
			return out, nil
		case len(out) > want:
			return nil, fmt.Errorf("%d children listed, want %d", len(out), want)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, fmt.Errorf("children not listed yet: %w", err)
		}
	}
}
