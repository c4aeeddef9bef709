package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
)

// iteratorMaxAge is how old an iterator may get before the reader replaces
// it; Kinesis expires them after 5 minutes.
const iteratorMaxAge = 4*time.Minute + 30*time.Second

// readBatch is what a reader hands the relay: records in shard order.
type readBatch struct {
	shard   string
	records []types.Record
	bytes   int64
	behind  int64 // MillisBehindLatest, -1 if not reported
	end     bool  // the shard is closed and was read to its end

	exited bool  // the reader returned (last message of a reader)
	err    error // why, if exited
}

// reader polls one shard and hands its records to the relay, in order.
type reader struct {
	src     Source
	stream  string
	shard   string
	after   string // resume after this sequence number; "" = start
	initial types.ShardIteratorType
	cfg     *Config
	budget  *budget
	out     chan<- readBatch
	log     zerolog.Logger
	expired *atomic.Int64 // counts checkpoints found aged out
}

// run reads until the shard ends (nil), ctx ends (ctx.Err()) or a fatal
// error.
func (r *reader) run(ctx context.Context) error {
	last := r.after
	if last != "" {
		lost, err := r.agedOut(ctx, last)
		if err != nil {
			return err
		}
		if lost {
			err := fmt.Errorf("%s/%s: checkpoint %s: %w", r.stream, r.shard, last, ErrCheckpointExpired)
			if r.cfg.OnExpiredCheckpoint != ExpiredTrimHorizon {
				return err
			}
			r.expired.Add(1)
			r.log.Error().Err(err).Str("seq", last).Msg("checkpoint aged out of retention: records after it were lost before they were read; going on from the oldest record (--on-expired-checkpoint trim-horizon)")
			last, r.initial = "", types.ShardIteratorTypeTrimHorizon
		}
	}
	iter, issued, err := r.iterator(ctx, last)
	if err != nil {
		return err
	}
	var lastCall time.Time
	bo := backoff{base: r.cfg.RetryBase, max: r.cfg.RetryMax}
	for {
		if wait := r.cfg.PollInterval - time.Since(lastCall); wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		granted, err := r.budget.acquire(ctx, int64(r.cfg.ReadLimit))
		if err != nil {
			return err
		}
		if time.Since(issued) > iteratorMaxAge {
			// Waiting for buffer space can outlast an iterator.
			if iter, issued, err = r.iterator(ctx, last); err != nil {
				r.budget.settle(granted, 0, 0)
				return err
			}
		}
		lastCall = time.Now()
		out, err := r.src.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: aws.String(iter),
			Limit:         aws.Int32(int32(granted)),
		})
		if err != nil {
			r.budget.settle(granted, 0, 0)
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				r.log.Info().Str("seq", last).Msg("iterator expired; reopening after the last record read")
				if iter, issued, err = r.iterator(ctx, last); err != nil {
					return err
				}
				continue
			}
			switch c := classify(ctx, err); c {
			case classCanceled:
				return ctx.Err()
			case classFatal:
				return fmt.Errorf("get records from %s/%s: %w", r.stream, r.shard, err)
			default:
				d := bo.next()
				r.log.Warn().Err(err).Str("class", c.String()).Int64("backoff_ms", d.Milliseconds()).Msg("get records")
				if err := sleep(ctx, d); err != nil {
					return err
				}
				continue
			}
		}
		bo.reset()
		b := readBatch{shard: r.shard, records: out.Records, behind: -1, end: out.NextShardIterator == nil}
		if out.MillisBehindLatest != nil {
			b.behind = *out.MillisBehindLatest
		}
		for _, rec := range out.Records {
			b.bytes += int64(len(rec.Data))
		}
		r.budget.settle(granted, int64(len(out.Records)), b.bytes)
		if n := len(out.Records); n > 0 {
			last = aws.ToString(out.Records[n-1].SequenceNumber)
		}
		select {
		case r.out <- b:
		case <-ctx.Done():
			r.budget.release(int64(len(b.records)), b.bytes)
			return ctx.Err()
		}
		if b.end {
			return nil
		}
		iter = aws.ToString(out.NextShardIterator)
	}
}

// agedOut reports whether the record at seq is no longer in the shard, so
// that resuming after it would silently skip whatever aged out with it. It
// reads at seq: the first record returned must be seq itself. If a few
// reads return nothing it cannot tell, says so, and assumes not.
func (r *reader) agedOut(ctx context.Context, seq string) (bool, error) {
	out, err := r.src.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(r.stream), ShardId: aws.String(r.shard),
		ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seq),
	})
	if err != nil {
		var inv *types.InvalidArgumentException
		var nf *types.ResourceNotFoundException
		if errors.As(err, &inv) || errors.As(err, &nf) {
			return true, nil
		}
		if classify(ctx, err) == classCanceled {
			return false, ctx.Err()
		}
		r.log.Warn().Err(err).Str("seq", seq).Msg("could not check that the checkpoint is still within retention")
		return false, nil
	}
	iter := out.ShardIterator
	for range 5 {
		if iter == nil {
			break
		}
		got, err := r.src.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1)})
		if err != nil {
			if classify(ctx, err) == classCanceled {
				return false, ctx.Err()
			}
			break
		}
		if len(got.Records) > 0 {
			return aws.ToString(got.Records[0].SequenceNumber) != seq, nil
		}
		iter = got.NextShardIterator
		if err := sleep(ctx, r.cfg.PollInterval); err != nil {
			return false, err
		}
	}
	r.log.Warn().Str("seq", seq).Msg("could not confirm the checkpoint is still within retention (no record returned at it)")
	return false, nil
}

// iterator opens an iterator after seq, or at the initial position.
func (r *reader) iterator(ctx context.Context, seq string) (string, time.Time, error) {
	return openIterator(ctx, r.src, r.stream, r.shard, r.initial, seq, backoff{base: r.cfg.RetryBase, max: r.cfg.RetryMax}, r.log)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
