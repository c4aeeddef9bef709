package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
)

// errShardGone: the shard no longer exists (expired past retention).
var errShardGone = errors.New("kinesisio: shard gone")

// openIterator opens an iterator on a shard: after seq if it is set, else
// at from. Throttling and transient errors are retried with bo, logged on
// log (which should name the shard); a missing shard is errShardGone; other
// fatal errors are returned wrapped. The relay's readers, verify's follower
// and analyze's window reader all open iterators here.
func openIterator(ctx context.Context, src IteratorGetter, stream, shard string, from types.ShardIteratorType, seq string, bo backoff, log zerolog.Logger) (string, time.Time, error) {
	in := &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: from}
	if seq != "" {
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(seq)
	}
	for {
		out, err := src.GetShardIterator(ctx, in)
		if err == nil {
			return aws.ToString(out.ShardIterator), time.Now(), nil
		}
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) && ctx.Err() == nil {
			return "", time.Time{}, fmt.Errorf("get shard iterator %s/%s: %w (%w)", stream, shard, errShardGone, err)
		}
		switch classify(ctx, err) {
		case classCanceled:
			return "", time.Time{}, ctx.Err()
		case classFatal:
			return "", time.Time{}, fmt.Errorf("get shard iterator %s/%s (%s %s): %w", stream, shard, in.ShardIteratorType, seq, err)
		}
		d := bo.next()
		log.Warn().Err(err).Int64("backoff_ms", d.Milliseconds()).Msg("get shard iterator")
		if err := sleep(ctx, d); err != nil {
			return "", time.Time{}, err
		}
	}
}
