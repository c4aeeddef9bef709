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
	"golang.org/x/sync/errgroup"
)

// WindowConfig bounds ReadWindow. DefaultWindowConfig holds every default.
type WindowConfig struct {
	// From is where the shards listed at the start are read from: LATEST
	// (default: what arrives from now on, live traffic) or TRIM_HORIZON
	// (the oldest retained record). Shards listed later (children of a
	// reshard during the window) hold only newer records and are read
	// from TRIM_HORIZON.
	From types.ShardIteratorType
	// Duration ends the window this long after it started; 0: no limit.
	Duration time.Duration
	// Records ends the window once this many records were handed over;
	// 0: no limit. The last batch is cut to fit.
	Records int
	// UntilCaughtUp stops reading an open shard once a read returns
	// nothing and it is not behind, and ends the window once every shard
	// is done (with TRIM_HORIZON: the retained history up to now).
	UntilCaughtUp bool
	// PollInterval is the least time between two GetRecords calls on one
	// shard (≥ 200ms: Kinesis allows 5 calls/s per shard for all readers).
	PollInterval time.Duration
	// ShardRefresh is how often shards are listed again.
	ShardRefresh time.Duration
	// Limit is the GetRecords Limit, 1..10000.
	Limit int
	// RetryBase and RetryMax bound the jittered back-off after throttling
	// and transient errors.
	RetryBase, RetryMax time.Duration
}

// DefaultWindowConfig returns the defaults: live traffic from LATEST, 60s,
// one GetRecords per shard per second (leaving the stream's other readers
// four of the five calls a second a shard allows).
func DefaultWindowConfig() WindowConfig {
	return WindowConfig{
		From:         types.ShardIteratorTypeLatest,
		Duration:     time.Minute,
		PollInterval: time.Second,
		ShardRefresh: 10 * time.Second,
		Limit:        MaxGetLimit,
		RetryBase:    100 * time.Millisecond,
		RetryMax:     5 * time.Second,
	}
}

// Validate reports every bad field at once.
func (c WindowConfig) Validate() error {
	var errs []error
	if c.From != types.ShardIteratorTypeLatest && c.From != types.ShardIteratorTypeTrimHorizon {
		errs = append(errs, fmt.Errorf("from %q: must be LATEST or TRIM_HORIZON", c.From))
	}
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("duration %s: must be ≥ 0", c.Duration))
	}
	if c.Records < 0 {
		errs = append(errs, fmt.Errorf("records %d: must be ≥ 0", c.Records))
	}
	if c.Duration == 0 && c.Records == 0 && !c.UntilCaughtUp {
		errs = append(errs, errors.New("window: needs a duration, a record count or UntilCaughtUp, or it never ends"))
	}
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

// WindowEnd says why a window ended.
type WindowEnd string

// Why a window ends.
const (
	WindowDuration WindowEnd = "duration"  // WindowConfig.Duration passed
	WindowRecords  WindowEnd = "records"   // WindowConfig.Records were handed over
	WindowCaughtUp WindowEnd = "caught-up" // UntilCaughtUp: every shard done
	WindowStopped  WindowEnd = "stopped"   // the stop channel closed
	WindowCanceled WindowEnd = "canceled"  // ctx ended
)

// closeGrace bounds how long a LATEST window waits, after its end, for
// every shard's closing read (a throttled or failing shard cannot hold
// the report back for longer).
const closeGrace = 10 * time.Second

// ShardState is how far ReadWindow got with a shard.
type ShardState string

// Shard states at the end of a window.
const (
	ShardWaiting  ShardState = "waiting"   // never read: its parents had not ended
	ShardReading  ShardState = "reading"   // still being read when the window ended
	ShardEnded    ShardState = "ended"     // closed and read to its end (or gone)
	ShardCaughtUp ShardState = "caught-up" // UntilCaughtUp: read up to its tip
	ShardSkipped  ShardState = "skipped"   // closed before a LATEST window: nothing can arrive
)

// WindowShard is one listed shard and what became of it.
type WindowShard struct {
	Shard   types.Shard
	State   ShardState
	Records int // records handed over
	// LastArrival is the ApproximateArrivalTimestamp of the last record
	// handed over (zero if none).
	LastArrival time.Time
}

// Window is what ReadWindow read.
type Window struct {
	// Start is when reading began (after the first listing); End when
	// it stopped. With LATEST, records arrived between the two.
	Start, End time.Time
	Ended      WindowEnd
	Records    int
	// Shards is every shard listed, in lineage order (parents first).
	Shards []WindowShard
	// Calls counts GetRecords calls.
	Calls int
}

// ReadWindow reads a window of stream without checkpointing and calls fn
// with each batch of records, from one goroutine, until the window ends
// (cfg, or stop closing) or fn fails. It returns what it read; if ctx
// ended, it returns the window so far (Ended WindowCanceled) with
// ctx.Err().
//
// A LATEST window ends exactly: once its duration passes (or stop
// closes) at time T, every shard being read makes one more call, started
// after T, and is read until caught up; records that arrived after T
// (ApproximateArrivalTimestamp, so local and AWS clocks should agree) are
// left out, and End is T. So the window holds what arrived between Start
// and End, not what happened to be polled by then. This takes about one
// PollInterval, at most closeGrace.
//
// Order: batches of one shard come in sequence order, and every batch of
// a parent (both parents of a merge) before any batch of its children, so
// learned key columns apply as in the relay. Rate: at most one GetRecords
// call per shard every cfg.PollInterval. Throttling and transient errors
// back off and retry; an expired iterator reopens after the last record
// read.
func ReadWindow(ctx context.Context, src Source, stream string, cfg WindowConfig, stop <-chan struct{}, log zerolog.Logger, fn func(ShardBatch) error) (Window, error) {
	if err := cfg.Validate(); err != nil {
		return Window{}, err
	}
	w := &windowReader{src: src, stream: stream, cfg: cfg, stop: stop, log: log, fn: fn,
		warn:  log.Sample(&zerolog.BurstSampler{Burst: 3, Period: 10 * time.Second}),
		state: map[string]*windowShard{}}
	err := w.run(ctx)
	w.win.End = time.Now()
	if w.closing {
		w.win.End = w.closeAt
	}
	w.win.Calls = int(w.calls.Load())
	for _, id := range w.order {
		s := w.state[id]
		w.win.Shards = append(w.win.Shards, WindowShard{Shard: s.shard, State: s.status, Records: s.records, LastArrival: s.lastArrival})
	}
	return w.win, err
}

type windowShard struct {
	shard       types.Shard
	parents     []string
	from        types.ShardIteratorType
	status      ShardState
	records     int
	lastArrival time.Time
	closedOut   bool // closing: read up to the window's end
}

// windowMsg is what a shard reader hands the coordinator: the answer of
// one GetRecords call (records or not), or the reader's end.
type windowMsg struct {
	batch     ShardBatch
	callStart time.Time  // when the call that returned batch started
	caughtUp  bool       // the call returned the shard's tip
	done      ShardState // ShardEnded or ShardCaughtUp: the reader's last message
	err       error      // fatal: the window fails
}

type windowReader struct {
	src    Source
	stream string
	cfg    WindowConfig
	log    zerolog.Logger
	warn   zerolog.Logger // sampled: throttle and retry warnings
	stop   <-chan struct{}
	fn     func(ShardBatch) error
	calls  atomic.Int64 // GetRecords calls, by every reader

	// Owned by run's goroutine.
	win     Window
	state   map[string]*windowShard
	order   []string  // shard ids, lineage order of each listing
	closing bool      // a LATEST window past its end, finishing its reads
	closeAt time.Time // the window's end while closing
}

// run lists shards, reads each from its start once its parents are done,
// hands batches to fn and stops at the window's end. Readers run in g
// under rctx; run cancels rctx and waits for them before it returns, so no
// reader outlives it.
func (w *windowReader) run(ctx context.Context) (err error) {
	shards, err := w.list(ctx)
	if err != nil {
		return err
	}
	w.win.Start = time.Now()
	w.merge(shards, w.cfg.From)

	rctx, cancel := context.WithCancel(ctx)
	var g errgroup.Group
	defer func() {
		// 1. Stop the readers; 2. wait for them (they only block on rctx).
		cancel()
		_ = g.Wait()
	}()
	msgs := make(chan windowMsg) // unbuffered: a reader waits for its batch to be taken
	var deadline, grace <-chan time.Time
	if w.cfg.Duration > 0 {
		t := time.NewTimer(w.cfg.Duration)
		defer t.Stop()
		deadline = t.C
	}
	stop := w.stop
	relist := time.NewTicker(w.cfg.ShardRefresh)
	defer relist.Stop()
	// end handles the window's time running out (why): a LATEST window
	// closes (see ReadWindow), any other stops at once.
	end := func(why WindowEnd) bool {
		deadline, stop = nil, nil
		w.win.Ended = why
		if w.cfg.From != types.ShardIteratorTypeLatest {
			return true
		}
		w.closing, w.closeAt = true, time.Now()
		t := time.NewTimer(closeGrace)
		grace = t.C
		return false
	}
	for {
		w.startEligible(rctx, &g, msgs)
		switch {
		case w.cfg.UntilCaughtUp && w.allDone():
			w.win.Ended = WindowCaughtUp
			return nil
		case w.closing && w.closedOut():
			return nil
		}
		select {
		case m := <-msgs:
			if m.err != nil {
				return m.err
			}
			s := w.state[aws.ToString(m.batch.Shard.ShardId)]
			if w.closing {
				m.batch.Records = arrivedBy(m.batch.Records, w.closeAt)
				if m.caughtUp && !m.callStart.Before(w.closeAt) {
					s.closedOut = true
				}
			}
			full, err := w.deliver(m.batch)
			if err != nil {
				return err
			}
			if m.done != "" {
				s.status = m.done
			}
			if full {
				w.win.Ended = WindowRecords
				return nil
			}
		case <-relist.C:
			shards, err := listShards(ctx, w.src, w.stream)
			switch {
			case err == nil:
				w.merge(shards, types.ShardIteratorTypeTrimHorizon)
			case classify(ctx, err) == classFatal:
				return fmt.Errorf("list shards of %s: %w", w.stream, err)
			default: // try again at the next tick
				w.warn.Warn().Err(err).Str("stream", w.stream).Msg("list shards")
			}
		case <-deadline:
			if end(WindowDuration) {
				return nil
			}
		case <-stop:
			if end(WindowStopped) {
				return nil
			}
		case <-grace:
			w.log.Warn().Str("stream", w.stream).Dur("grace", closeGrace).Msg("window end: not every shard was read up to it; reporting what was")
			return nil
		case <-ctx.Done():
			w.win.Ended = WindowCanceled
			return ctx.Err()
		}
	}
}

// closedOut says whether every shard being read was read up to the end of
// a closing window. Waiting shards do not count: their parents were still
// open at the end, so they hold nothing from before it.
func (w *windowReader) closedOut() bool {
	for _, s := range w.state {
		if s.status == ShardReading && !s.closedOut {
			return false
		}
	}
	return true
}

// arrivedBy drops the records that arrived after t (records without an
// arrival time stay).
func arrivedBy(recs []types.Record, t time.Time) []types.Record {
	n := len(recs)
	for n > 0 && recs[n-1].ApproximateArrivalTimestamp != nil && recs[n-1].ApproximateArrivalTimestamp.After(t) {
		n--
	}
	kept := recs[:n]
	for i := range kept {
		if a := kept[i].ApproximateArrivalTimestamp; a != nil && a.After(t) {
			// Arrival times are not monotonic: filter the rest too.
			out := make([]types.Record, 0, n)
			for _, r := range kept {
				if r.ApproximateArrivalTimestamp == nil || !r.ApproximateArrivalTimestamp.After(t) {
					out = append(out, r)
				}
			}
			return out
		}
	}
	return kept
}

// deliver hands a batch to fn, cut to the record bound; full says the
// bound is reached.
func (w *windowReader) deliver(b ShardBatch) (full bool, err error) {
	if w.cfg.Records > 0 && w.win.Records+len(b.Records) >= w.cfg.Records {
		b.Records = b.Records[:w.cfg.Records-w.win.Records]
		full = true
	}
	if len(b.Records) == 0 {
		return full, nil
	}
	s := w.state[aws.ToString(b.Shard.ShardId)]
	s.records += len(b.Records)
	if t := b.Records[len(b.Records)-1].ApproximateArrivalTimestamp; t != nil {
		s.lastArrival = *t
	}
	w.win.Records += len(b.Records)
	return full, w.fn(b)
}

// list lists the shards, retrying throttling and transient errors.
func (w *windowReader) list(ctx context.Context) ([]types.Shard, error) {
	bo := backoff{base: w.cfg.RetryBase, max: w.cfg.RetryMax}
	for {
		shards, err := listShards(ctx, w.src, w.stream)
		if err == nil {
			return shards, nil
		}
		switch classify(ctx, err) {
		case classCanceled:
			return nil, ctx.Err()
		case classFatal:
			return nil, fmt.Errorf("list shards of %s: %w", w.stream, err)
		}
		d := bo.next()
		w.warn.Warn().Err(err).Str("stream", w.stream).Int64("backoff_ms", d.Milliseconds()).Msg("list shards; retrying")
		if err := sleep(ctx, d); err != nil {
			return nil, err
		}
	}
}

// merge adds newly listed shards, to be read from `from`. A shard already
// closed when a LATEST window starts can receive nothing: it is skipped
// (and so does not hold back its children).
func (w *windowReader) merge(shards []types.Shard, from types.ShardIteratorType) {
	for _, sh := range LineageOrder(shards) {
		id := aws.ToString(sh.ShardId)
		if _, ok := w.state[id]; ok {
			continue
		}
		s := &windowShard{shard: sh, from: from, status: ShardWaiting}
		s.parents = shardParents(sh)
		if from == types.ShardIteratorTypeLatest && closed(sh) {
			s.status = ShardSkipped
		}
		w.state[id] = s
		w.order = append(w.order, id)
	}
}

func closed(sh types.Shard) bool {
	return sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
}

// done says whether a shard will hand over nothing more.
func (s *windowShard) done() bool {
	return s.status == ShardEnded || s.status == ShardCaughtUp || s.status == ShardSkipped
}

func (w *windowReader) allDone() bool {
	for _, s := range w.state {
		if !s.done() {
			return false
		}
	}
	return true
}

// startEligible starts a reader for each waiting shard whose parents are
// done or gone (expired past retention).
func (w *windowReader) startEligible(ctx context.Context, g *errgroup.Group, msgs chan<- windowMsg) {
	for _, id := range w.order {
		s := w.state[id]
		if s.status != ShardWaiting {
			continue
		}
		if !parentsDone(s.parents, func(id string) (bool, bool) {
			ps, ok := w.state[id]
			return ok && ps.done(), ok
		}) {
			continue
		}
		s.status = ShardReading
		sh, from := s.shard, s.from
		w.log.Debug().Str("stream", w.stream).Str("shard_id", id).Str("from", string(from)).Msg("reading shard")
		g.Go(func() error {
			w.read(ctx, sh, from, msgs)
			return nil
		})
	}
}

// read polls one shard until it is done, ctx ends, or a call fails for
// good; its last message (unless ctx ended) says which.
func (w *windowReader) read(ctx context.Context, sh types.Shard, from types.ShardIteratorType, msgs chan<- windowMsg) {
	send := func(m windowMsg) bool {
		select {
		case msgs <- m:
			return true
		case <-ctx.Done():
			return false
		}
	}
	done, err := w.poll(ctx, sh, from, send)
	switch {
	case errors.Is(err, errShardGone):
		w.log.Warn().Str("stream", w.stream).Str("shard_id", aws.ToString(sh.ShardId)).Msg("shard gone (expired?); treating it as ended")
		send(windowMsg{batch: ShardBatch{Shard: sh, MillisBehind: -1, End: true}, done: ShardEnded})
	case err != nil && ctx.Err() == nil:
		send(windowMsg{err: err})
	case err == nil:
		send(windowMsg{batch: ShardBatch{Shard: sh, MillisBehind: -1, End: done == ShardEnded}, done: done})
	}
}

func (w *windowReader) poll(ctx context.Context, sh types.Shard, from types.ShardIteratorType, send func(windowMsg) bool) (ShardState, error) {
	id := aws.ToString(sh.ShardId)
	last := "" // sequence number of the last record read
	iter, issued, err := w.iterator(ctx, id, from, last)
	if err != nil {
		return "", err
	}
	bo := backoff{base: w.cfg.RetryBase, max: w.cfg.RetryMax}
	var lastCall time.Time
	for {
		if wait := w.cfg.PollInterval - time.Since(lastCall); wait > 0 {
			if err := sleep(ctx, wait); err != nil {
				return "", err
			}
		}
		if time.Since(issued) > iteratorMaxAge {
			if iter, issued, err = w.iterator(ctx, id, from, last); err != nil {
				return "", err
			}
		}
		lastCall = time.Now()
		w.calls.Add(1)
		res, err := w.src.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(int32(w.cfg.Limit))})
		if err != nil {
			var expired *types.ExpiredIteratorException
			if errors.As(err, &expired) {
				if iter, issued, err = w.iterator(ctx, id, from, last); err != nil {
					return "", err
				}
				continue
			}
			switch c := classify(ctx, err); c {
			case classCanceled:
				return "", ctx.Err()
			case classFatal:
				return "", fmt.Errorf("get records %s/%s: %w", w.stream, id, err)
			default:
				d := bo.next()
				w.warn.Warn().Err(err).Str("stream", w.stream).Str("shard_id", id).Str("class", c.String()).
					Int64("backoff_ms", d.Milliseconds()).Msg("get records")
				if err := sleep(ctx, d); err != nil {
					return "", err
				}
				continue
			}
		}
		bo.reset()
		b := ShardBatch{Shard: sh, Records: res.Records, MillisBehind: -1}
		if res.MillisBehindLatest != nil {
			b.MillisBehind = *res.MillisBehindLatest
		}
		if n := len(res.Records); n > 0 {
			last = aws.ToString(res.Records[n-1].SequenceNumber)
		}
		// Caught up: at the tip (an answer shorter than asked for, nothing
		// behind it). Sent even without records: a closing window waits
		// for it.
		caughtUp := len(res.Records) < w.cfg.Limit && aws.ToInt64(res.MillisBehindLatest) == 0
		if !send(windowMsg{batch: b, callStart: lastCall, caughtUp: caughtUp || res.NextShardIterator == nil}) {
			return "", ctx.Err()
		}
		switch {
		case res.NextShardIterator == nil:
			return ShardEnded, nil
		case w.cfg.UntilCaughtUp && len(res.Records) == 0 && aws.ToInt64(res.MillisBehindLatest) == 0 && !closed(sh):
			return ShardCaughtUp, nil
		}
		iter = aws.ToString(res.NextShardIterator)
	}
}

// iterator opens an iterator after seq, or at from.
func (w *windowReader) iterator(ctx context.Context, shard string, from types.ShardIteratorType, seq string) (string, time.Time, error) {
	return openIterator(ctx, w.src, w.stream, shard, from, seq,
		backoff{base: w.cfg.RetryBase, max: w.cfg.RetryMax}, w.warn.With().Str("stream", w.stream).Str("shard_id", shard).Logger())
}
