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
	"golang.org/x/sync/errgroup"
)

// FollowConfig tunes Follow. DefaultFollowConfig holds every default.
type FollowConfig struct {
	// PollInterval is the least time between two GetRecords calls on one
	// shard. Kinesis allows 5 calls/s per shard for all consumers together,
	// so 200ms is the floor; a follower sharing a shard with the relay
	// should leave it room.
	PollInterval time.Duration
	// ShardRefresh is how often shards are listed again to find children
	// of splits and merges.
	ShardRefresh time.Duration
	// Limit is the GetRecords Limit, 1..10000.
	Limit int
	// RetryBase and RetryMax bound the jittered back-off after throttling
	// and transient errors.
	RetryBase, RetryMax time.Duration
}

// DefaultFollowConfig returns the defaults: 5 calls/s per shard at most,
// shards re-listed every 10s.
func DefaultFollowConfig() FollowConfig {
	return FollowConfig{
		PollInterval: 200 * time.Millisecond,
		ShardRefresh: 10 * time.Second,
		Limit:        MaxGetLimit,
		RetryBase:    100 * time.Millisecond,
		RetryMax:     5 * time.Second,
	}
}

// Validate reports every bad field at once.
func (c FollowConfig) Validate() error {
	var errs []error
	if c.PollInterval < 200*time.Millisecond {
		errs = append(errs, fmt.Errorf("poll-interval %s: must be ≥ 200ms (Kinesis allows 5 GetRecords/s per shard)", c.PollInterval))
	}
	if c.ShardRefresh < time.Second {
		errs = append(errs, fmt.Errorf("shard-refresh %s: must be ≥ 1s", c.ShardRefresh))
	}
	if c.Limit < 1 || c.Limit > MaxGetLimit {
		errs = append(errs, fmt.Errorf("limit %d: must be 1..%d", c.Limit, MaxGetLimit))
	}
	if c.RetryBase <= 0 || c.RetryMax < c.RetryBase {
		errs = append(errs, fmt.Errorf("retry back-off %s..%s: need 0 < base ≤ max", c.RetryBase, c.RetryMax))
	}
	return errors.Join(errs...)
}

// ShardBatch is what Follow hands its caller: one GetRecords answer of a
// shard, or the announcement of a newly listed shard (Listed, no records).
type ShardBatch struct {
	Shard   types.Shard
	Records []types.Record
	// MillisBehind is MillisBehindLatest of the answer, -1 if not reported.
	MillisBehind int64
	// Listed: the shard was just discovered; reading may start later
	// (after its parents end).
	Listed bool
	// End: the shard is closed and read to its end (or expired); no more
	// batches of it follow.
	End bool
}

// Follow reads every shard of stream from TRIM_HORIZON and keeps reading
// as records arrive, until ctx ends (it then returns ctx.Err()) or a call
// fails for good. It sends every batch holding records, and every shard's
// Listed and End batch, on out.
//
// Order: batches of one shard arrive in sequence order, and every batch of
// a parent (both parents of a merge) arrives before any batch of its
// children, so a consumer sees each key in lineage order. Parents gone
// from the listing (expired) do not hold their children back.
//
// Rate: at most one GetRecords call per shard every cfg.PollInterval;
// shards are re-listed every cfg.ShardRefresh. Throttling and transient
// errors back off and retry; expired iterators reopen after the last
// record read, so nothing is skipped or repeated.
func Follow(ctx context.Context, src Source, stream string, cfg FollowConfig, log zerolog.Logger, out chan<- ShardBatch) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f := &follower{src: src, stream: stream, cfg: cfg, out: out, log: log,
		warn:  log.Sample(&zerolog.BurstSampler{Burst: 3, Period: 10 * time.Second}),
		state: map[string]*followed{}}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.coordinate(ctx, g) })
	return g.Wait()
}

type followStatus uint8

const (
	followWaiting followStatus = iota // listed, parents not yet ended
	followReading
	followEnded
)

type followed struct {
	shard   types.Shard
	parents []string
	status  followStatus
}

type follower struct {
	src    Source
	stream string
	cfg    FollowConfig
	out    chan<- ShardBatch
	log    zerolog.Logger
	warn   zerolog.Logger // sampled: throttle and retry warnings

	// Owned by coordinate's goroutine.
	state map[string]*followed
	order []string // shard ids in listing order
}

// coordinate lists shards, starts a reader per shard once its parents
// ended, and re-lists every ShardRefresh. Readers run in g; it returns
// only with ctx (or a fatal listing error), and g.Wait waits for them.
func (f *follower) coordinate(ctx context.Context, g *errgroup.Group) error {
	ended := make(chan string) // unbuffered: a reader hands over its shard id once
	t := time.NewTicker(f.cfg.ShardRefresh)
	defer t.Stop()
	bo := backoff{base: f.cfg.RetryBase, max: f.cfg.RetryMax}
	relist := true
	for {
		if relist {
			relist = false
			shards, err := listShards(ctx, f.src, f.stream)
			switch {
			case err == nil:
				bo.reset()
				if err := f.merge(ctx, shards); err != nil {
					return err
				}
			case classify(ctx, err) == classCanceled:
				return ctx.Err()
			case classify(ctx, err) == classFatal:
				return fmt.Errorf("list shards of %s: %w", f.stream, err)
			default:
				d := bo.next()
				f.warn.Warn().Err(err).Str("stream", f.stream).Int64("backoff_ms", d.Milliseconds()).Msg("list shards; retrying")
				if err := sleep(ctx, d); err != nil {
					return err
				}
				relist = true
				continue
			}
		}
		f.startEligible(ctx, g, ended)
		select {
		case <-t.C:
			relist = true
		case id := <-ended:
			if s, ok := f.state[id]; ok {
				s.status = followEnded
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// merge adds newly listed shards and announces them.
func (f *follower) merge(ctx context.Context, shards []types.Shard) error {
	for _, sh := range LineageOrder(shards) {
		id := aws.ToString(sh.ShardId)
		if _, ok := f.state[id]; ok {
			continue
		}
		s := &followed{shard: sh, parents: shardParents(sh)}
		f.state[id] = s
		f.order = append(f.order, id)
		if err := f.send(ctx, ShardBatch{Shard: sh, MillisBehind: -1, Listed: true}); err != nil {
			return err
		}
	}
	return nil
}

// startEligible starts a reader for each waiting shard whose parents
// ended or are gone (expired past retention).
func (f *follower) startEligible(ctx context.Context, g *errgroup.Group, ended chan<- string) {
	for _, id := range f.order {
		s := f.state[id]
		if s.status != followWaiting {
			continue
		}
		if !parentsDone(s.parents, func(id string) (bool, bool) {
			ps, ok := f.state[id]
			return ok && ps.status == followEnded, ok
		}) {
			continue
		}
		s.status = followReading
		sh := s.shard
		f.log.Debug().Str("stream", f.stream).Str("shard_id", id).Strs("parents", s.parents).Msg("following shard")
		g.Go(func() error {
			if err := f.read(ctx, sh); err != nil {
				return err
			}
			select {
			case ended <- id:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
}

// read follows one shard until it ends (nil), ctx ends or a fatal error.
// A shard that disappears (expired past retention) ends it.
func (f *follower) read(ctx context.Context, sh types.Shard) error {
	err := f.poll(ctx, sh)
	if errors.Is(err, errShardGone) {
		f.log.Warn().Str("stream", f.stream).Str("shard_id", aws.ToString(sh.ShardId)).Msg("shard gone (expired?); treating it as ended")
		return f.send(ctx, ShardBatch{Shard: sh, MillisBehind: -1, End: true})
	}
	return err
}

func (f *follower) poll(ctx context.Context, sh types.Shard) error {
	id := aws.ToString(sh.ShardId)
	last := "" // sequence number of the last record read
	iter, issued, err := f.iterator(ctx, id, last)
	if err != nil {
		return err
	}
	bo := backoff{base: f.cfg.RetryBase, max: f.cfg.RetryMax}
	var lastCall time.Time
	for {
		if wait := f.cfg.PollInterval - time.Since(lastCall); wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return err
			}
		}
		if time.Since(issued) > iteratorMaxAge {
			// A slow consumer can outlast an iterator.
			if iter, issued, err = f.iterator(ctx, id, last); err != nil {
				return err
			}
		}
		lastCall = time.Now()
		res, err := f.src.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(int32(f.cfg.Limit))})
		if err != nil {
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				if iter, issued, err = f.iterator(ctx, id, last); err != nil {
					return err
				}
				continue
			}
			switch c := classify(ctx, err); c {
			case classCanceled:
				return ctx.Err()
			case classFatal:
				return fmt.Errorf("get records %s/%s: %w", f.stream, id, err)
			default:
				d := bo.next()
				f.warn.Warn().Err(err).Str("stream", f.stream).Str("shard_id", id).Str("class", c.String()).
					Int64("backoff_ms", d.Milliseconds()).Msg("get records")
				if err := sleep(ctx, d); err != nil {
					return err
				}
				continue
			}
		}
		bo.reset()
		b := ShardBatch{Shard: sh, Records: res.Records, MillisBehind: -1, End: res.NextShardIterator == nil}
		if res.MillisBehindLatest != nil {
			b.MillisBehind = *res.MillisBehindLatest
		}
		if n := len(res.Records); n > 0 {
			last = aws.ToString(res.Records[n-1].SequenceNumber)
		}
		if len(b.Records) > 0 || b.End {
			if err := f.send(ctx, b); err != nil {
				return err
			}
		}
		if b.End {
			return nil
		}
		iter = aws.ToString(res.NextShardIterator)
	}
}

// iterator opens an iterator after seq, or at TRIM_HORIZON.
func (f *follower) iterator(ctx context.Context, shard, seq string) (string, time.Time, error) {
	return openIterator(ctx, f.src, f.stream, shard, types.ShardIteratorTypeTrimHorizon, seq,
		backoff{base: f.cfg.RetryBase, max: f.cfg.RetryMax}, f.warn.With().Str("stream", f.stream).Str("shard_id", shard).Logger())
}

func (f *follower) send(ctx context.Context, b ShardBatch) error {
	select {
	case f.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
