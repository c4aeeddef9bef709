package kinesisio

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
)

type listResult struct {
	shards []types.Shard
	err    error
}

// shardLister lists the source's shards now, whenever asked, and every
// `every`. It lists every shard (open, closed, unexpired): kinesalite
// ignores ShardFilter, and the relay needs closed parents anyway.
type shardLister struct {
	src    ShardLister
	stream string
	every  time.Duration
	log    zerolog.Logger
}

func (s *shardLister) run(ctx context.Context, now <-chan struct{}, out chan<- listResult) error {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		shards, err := listShards(ctx, s.src, s.stream)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		select {
		case out <- listResult{shards: shards, err: err}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wait := t.C
		if err != nil {
			wait = time.After(time.Second)
		}
		select {
		case <-wait:
		case <-now:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// listShards returns every shard of stream, following pagination. The
// first page names the stream; later pages send only NextToken, as the API
// requires.
func listShards(ctx context.Context, src ShardLister, stream string) ([]types.Shard, error) {
	var shards []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream)}
	for {
		out, err := src.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil || *out.NextToken == "" {
			return shards, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// shardParents returns a shard's parent and adjacent parent, the shards
// that must be read to their end before it (resharding keeps a key's
// order only if parents come first).
func shardParents(sh types.Shard) []string {
	var ps []string
	for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
		if p != nil && *p != "" {
			ps = append(ps, *p)
		}
	}
	return ps
}

// parentsDone says whether every parent is done, by done(id): found is
// false for a parent no longer listed (expired past retention), which
// cannot hold anything back.
func parentsDone(parents []string, done func(id string) (isDone, found bool)) bool {
	for _, p := range parents {
		if d, found := done(p); found && !d {
			return false
		}
	}
	return true
}
