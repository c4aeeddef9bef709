package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/repartd/repartd/repartition"
)

// ErrDrainTimeout says a graceful stop ran out of time: the checkpoint is
// at the watermark, and a restart re-sends what was in flight.
var ErrDrainTimeout = errors.New("kinesisio: drain timed out")

// ErrShardStalled says a shard holds a record the destination can never
// take; its progress stops there (no checkpoint past it).
var ErrShardStalled = errors.New("kinesisio: shard stalled on a record the destination cannot take")

// Relay moves every record of the source stream to the destination, keyed
// by row, in per-key order, checkpointing behind the acknowledgement
// watermark. One goroutine (the loop) owns the ordering state; readers,
// writers, the shard lister and the checkpoint writer talk to it over
// channels.
type Relay struct {
	cfg   Config
	src   Source
	dst   Destination
	store Store
	log   zerolog.Logger

	drainOnce sync.Once
	drainCh   chan struct{}

	mu    sync.Mutex
	stats Stats
}

// Stats are the relay's running totals, for tests and the final log line.
type Stats struct {
	RecordsIn, RecordsOut  int64
	BytesIn, BytesOut      int64
	Invalid, Fallback      int64
	PKChanges              int64
	Retries, Throttles     int64
	AmbiguousCalls, Puts   int64
	Checkpoints            int64
	StalledShards          int
	Started, Finished      time.Time
	FirstIn, LastOut       time.Time // first record read, last acknowledged
	MaxRecordSize          int
	ShardsRead, ShardsDone int
}

// NewRelay checks cfg and returns a Relay. The logger must never be given
// record data: the relay logs names, counts, positions and timings only.
func NewRelay(cfg Config, src Source, dst Destination, store Store, log zerolog.Logger) (*Relay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Relay{cfg: cfg, src: src, dst: dst, store: store, log: log, drainCh: make(chan struct{})}, nil
}

// Drain asks Run to stop gracefully: stop reading, finish what is in
// flight, write the final checkpoint and return nil. It returns at once;
// calling it more than once is harmless.
func (r *Relay) Drain() { r.drainOnce.Do(func() { close(r.drainCh) }) }

// Stats returns a snapshot of the running totals.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run relays until ctx ends (stop now: the checkpoint stays at the
// watermark and Run returns ctx.Err()), Drain is called (graceful: returns
// nil once drained), or a fatal error.
func (r *Relay) Run(ctx context.Context) error {
	cp, found, err := r.store.Load(ctx)
	if err != nil {
		return err
	}
	maxRecord, err := r.maxRecordSize(ctx)
	if err != nil {
		return err
	}
	var learned repartition.Learned
	for _, t := range cp.Learned {
		learned.Apply(repartition.LearnSet, t.Schema, t.Table, t.Columns)
	}
	if !found {
		cp.Shards = map[string]ShardCheckpoint{}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	l := &loop{
		r:          r,
		cfg:        &r.cfg,
		log:        r.log,
		ctx:        gctx,
		g:          g,
		router:     repartition.NewRouter(r.cfg.Rules, learned),
		committed:  learned.Clone(),
		sched:      repartition.NewScheduler(),
		budget:     newBudget(int64(r.cfg.MaxBufferedRecords), r.cfg.MaxBufferedBytes),
		maxRecord:  maxRecord,
		fromCP:     cp.Shards,
		resumed:    found,
		byID:       map[string]*shardState{},
		fromReader: make(chan readBatch),
		work:       make(chan *putBatch, r.cfg.MaxInFlight),
		done:       make(chan *putBatch, r.cfg.MaxInFlight),
		listed:     make(chan listResult),
		relist:     make(chan struct{}, 1),
		saves:      make(chan Checkpoint, 1),
		saveErrs:   make(chan error, 1),
		idle:       r.cfg.MaxInFlight,
	}
	l.readerCtx, l.stopReaders = context.WithCancel(gctx)
	defer l.stopReaders()
	for range r.cfg.MaxInFlight {
		w := &writer{dst: r.dst, stream: r.cfg.Dest, timeout: r.cfg.PutTimeout}
		g.Go(func() error { return w.run(gctx, l.work, l.done) })
		l.batches = append(l.batches, &putBatch{})
	}
	lister := &shardLister{src: r.src, stream: r.cfg.Source, every: r.cfg.ShardRefresh, log: r.log}
	g.Go(func() error { return lister.run(gctx, l.relist, l.listed) })
	saverDone := make(chan struct{})
	go func() { // owned: Run waits on saverDone before returning
		defer close(saverDone)
		l.saveLoop(l.saves, l.saveErrs)
	}()

	r.mu.Lock()
	r.stats.Started, r.stats.MaxRecordSize = time.Now(), maxRecord
	r.mu.Unlock()
	r.log.Info().Str("source", r.cfg.Source).Str("dest", r.cfg.Dest).Bool("resumed", found).
		Int("shards_in_checkpoint", len(cp.Shards)).Int("learned_keys", learned.Len()).
		Int("max_record_bytes", maxRecord).Msg("relay starting")

	loopErr := l.run()

	// Shutdown, in order: 1. stop readers and writers; 2. wait for them;
	// 3. let the saver finish its last write; 4. write the final checkpoint
	// at the watermark, which now covers everything acknowledged.
	cancel()
	_ = g.Wait()
	close(l.saves)
	<-saverDone
	final := l.checkpoint(true)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := r.store.Save(sctx, final); err != nil {
		r.log.Error().Err(err).Msg("final checkpoint")
		if loopErr == nil {
			loopErr = err
		}
	} else {
		l.logCheckpoint(final, "final checkpoint")
	}
	l.publish()
	r.mu.Lock()
	r.stats.Finished = time.Now()
	r.stats.Checkpoints++
	st := r.stats
	r.mu.Unlock()
	elapsed := st.Finished.Sub(st.Started).Seconds()
	ev := r.log.Info()
	if loopErr != nil {
		ev = r.log.Error().Err(loopErr)
	}
	busy := st.LastOut.Sub(st.FirstIn).Seconds()
	ev.Int64("records_in", st.RecordsIn).Int64("records_out", st.RecordsOut).
		Int64("bytes_out", st.BytesOut).Int64("invalid", st.Invalid).
		Int64("retries", st.Retries).Int64("throttles", st.Throttles).
		Float64("elapsed_s", elapsed).Float64("busy_s", max(busy, 0)).
		Float64("records_out_per_busy_s", float64(st.RecordsOut)/max(busy, 1e-9)).
		Msg("relay stopped")
	return loopErr
}

func (r *Relay) maxRecordSize(ctx context.Context) (int, error) {
	if r.cfg.MaxRecordSize > 0 {
		return r.cfg.MaxRecordSize, nil
	}
	out, err := r.dst.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(r.cfg.Dest)})
	if err != nil {
		return 0, fmt.Errorf("describe destination %s: %w", r.cfg.Dest, err)
	}
	if s := out.StreamDescriptionSummary; s != nil && s.MaxRecordSizeInKiB != nil && *s.MaxRecordSizeInKiB > 0 {
		return int(*s.MaxRecordSizeInKiB) * 1024, nil
	}
	return DefaultMaxRecord, nil
}

// shardStatus is a source shard's place in its life.
type shardStatus uint8

const (
	shardWaiting  shardStatus = iota // parents not yet read to their end
	shardReading                     // reader running
	shardReadEnd                     // closed shard read to its end; records may be unacknowledged
	shardFinished                    // read to its end and every record acknowledged
	shardStalled                     // stopped on a record the destination cannot take
)

type shardState struct {
	id       string
	idx      int
	parents  []string
	status   shardStatus
	wm       *repartition.Watermark
	startSeq string
	initial  types.ShardIteratorType
	cancel   context.CancelFunc

	behind   int64 // last MillisBehindLatest, -1 unknown
	caughtUp bool  // last read returned nothing and was not behind

	// counters since the last lag line
	in, out, retries, throttles, invalid int64
}

// pendingLearn is a key-column change not yet covered by its shard's
// watermark; it enters the checkpoint once it is.
type pendingLearn struct {
	shard         int
	ord           uint64
	op            repartition.LearnOp
	schema, table string
	cols          []string
}

type loop struct {
	r      *Relay
	cfg    *Config
	log    zerolog.Logger
	ctx    context.Context
	g      *errgroup.Group
	router *repartition.Router
	sched  *repartition.Scheduler
	budget *budget

	committed repartition.Learned // learned keys as of the watermarks
	pending   []pendingLearn

	maxRecord int
	fromCP    map[string]ShardCheckpoint
	resumed   bool
	shards    []*shardState
	byID      map[string]*shardState
	listedYet bool

	readerCtx   context.Context
	stopReaders context.CancelFunc
	readers     int

	fromReader chan readBatch
	work       chan *putBatch
	done       chan *putBatch
	batches    []*putBatch // free
	idle       int
	listed     chan listResult
	relist     chan struct{}
	saves      chan Checkpoint
	saveErrs   chan error

	draining  bool
	idleSince time.Time
	lastSaved map[string]ShardCheckpoint
	lastLearn int

	decision repartition.Decision
	keyBuf   []byte

	invalidLogged int
	invalidWindow time.Time
	putLat        latencies
	totals        Stats
}

// run is the event loop. It returns nil after a drain, else the reason it
// stopped.
func (l *loop) run() error {
	cpTick := time.NewTicker(l.cfg.CheckpointInterval)
	defer cpTick.Stop()
	logTick := time.NewTicker(l.cfg.LogInterval)
	defer logTick.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var drainTimeout <-chan time.Time
	drainCh := l.r.drainCh
	for {
		select {
		case <-l.ctx.Done():
			return l.ctx.Err()
		case <-drainCh:
			drainCh = nil
			l.startDrain()
			t := time.NewTimer(l.cfg.DrainTimeout)
			defer t.Stop()
			drainTimeout = t.C
		case <-drainTimeout:
			rec, _ := l.sched.Buffered()
			l.log.Error().Int("buffered_records", rec).Dur("drain_timeout", l.cfg.DrainTimeout).Msg("drain timed out; checkpoint stays at the watermark")
			return ErrDrainTimeout
		case b := <-l.fromReader:
			if err := l.onRead(b); err != nil {
				return err
			}
		case b := <-l.done:
			if err := l.onPut(b); err != nil {
				return err
			}
		case res := <-l.listed:
			if err := l.onList(res); err != nil {
				return err
			}
		case <-retry.C:
		case <-cpTick.C:
			l.save()
		case err := <-l.saveErrs:
			l.log.Error().Err(err).Msg("checkpoint not saved; retrying at the next interval")
		case <-logTick.C:
			l.logLag()
		}
		l.dispatch()
		if w := l.sched.NextWake(); w != 0 {
			retry.Reset(time.Duration(max(w-time.Now().UnixNano(), 0)))
		}
		if l.draining && l.readers == 0 {
			if rec, _ := l.sched.Buffered(); rec == 0 {
				l.log.Info().Msg("drained")
				return nil
			}
		}
		if !l.draining && l.cfg.StopWhenIdle > 0 && l.checkIdle() {
			l.log.Info().Dur("idle", l.cfg.StopWhenIdle).Msg("caught up and idle; stopping")
			l.startDrain()
		}
	}
}

func (l *loop) startDrain() {
	if l.draining {
		return
	}
	l.draining = true
	l.stopReaders()
	rec, _ := l.sched.Buffered()
	l.log.Info().Int("buffered_records", rec).Int("readers", l.readers).Msg("draining: reading stopped, finishing in-flight records")
}

// checkIdle reports whether StopWhenIdle has elapsed with every shard caught
// up and nothing buffered.
func (l *loop) checkIdle() bool {
	idle := l.listedYet
	if rec, _ := l.sched.Buffered(); rec > 0 {
		idle = false
	}
	for _, s := range l.shards {
		switch s.status {
		case shardReading:
			if !s.caughtUp {
				idle = false
			}
		case shardWaiting:
			idle = false
		}
	}
	if !idle {
		l.idleSince = time.Time{}
		return false
	}
	if l.idleSince.IsZero() {
		l.idleSince = time.Now()
	}
	return time.Since(l.idleSince) >= l.cfg.StopWhenIdle
}

// onList merges a shard listing and starts every shard whose parents are
// read to their end.
func (l *loop) onList(res listResult) error {
	if res.err != nil {
		if classify(l.ctx, res.err) == classFatal {
			return fmt.Errorf("list shards of %s: %w", l.cfg.Source, res.err)
		}
		l.log.Warn().Err(res.err).Msg("list shards; retrying")
		return nil
	}
	first := !l.listedYet
	l.listedYet = true
	for _, sh := range res.shards {
		id := aws.ToString(sh.ShardId)
		if _, ok := l.byID[id]; ok {
			continue
		}
		s := &shardState{id: id, idx: len(l.shards), behind: -1, initial: types.ShardIteratorTypeTrimHorizon}
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if p != nil && *p != "" {
				s.parents = append(s.parents, *p)
			}
		}
		cp, has := l.fromCP[id]
		closed := sh.SequenceNumberRange != nil && sh.SequenceNumberRange.EndingSequenceNumber != nil
		switch {
		case has && cp.Ended:
			s.status = shardFinished
		case has:
			s.startSeq = cp.Seq
		case first && !l.resumed && l.cfg.StartPosition == types.ShardIteratorTypeLatest:
			if closed {
				s.status = shardFinished // LATEST: history is not wanted
			} else {
				s.initial = types.ShardIteratorTypeLatest
			}
		}
		s.wm = repartition.NewWatermark(s.startSeq)
		l.shards = append(l.shards, s)
		l.byID[id] = s
	}
	l.startEligible()
	return nil
}

// startEligible starts readers for waiting shards whose parents were read
// to their end (or are gone: expired past retention).
func (l *loop) startEligible() {
	if l.draining {
		return
	}
	for _, s := range l.shards {
		if s.status != shardWaiting {
			continue
		}
		ready := true
		for _, p := range s.parents {
			if ps, ok := l.byID[p]; ok && ps.status != shardReadEnd && ps.status != shardFinished {
				ready = false
			}
		}
		if !ready {
			continue
		}
		s.status = shardReading
		ctx, cancel := context.WithCancel(l.readerCtx)
		s.cancel = cancel
		rd := &reader{
			src: l.r.src, stream: l.cfg.Source, shard: s.id, after: s.startSeq, initial: s.initial,
			cfg: l.cfg, budget: l.budget, out: l.fromReader,
			log: l.log.With().Str("component", "reader").Str("shard_id", s.id).Logger(),
		}
		l.readers++
		l.log.Info().Str("shard_id", s.id).Str("after_seq", s.startSeq).Strs("parents", s.parents).Msg("reading shard")
		l.g.Go(func() error {
			err := rd.run(ctx)
			// Tell the loop; it always listens until readers reach zero.
			select {
			case l.fromReader <- readBatch{shard: rd.shard, exited: true, err: err}:
			case <-l.ctx.Done():
			}
			return nil
		})
	}
}

// onRead routes a batch of records into the scheduler, in shard order.
func (l *loop) onRead(b readBatch) error {
	s := l.byID[b.shard]
	if b.exited {
		l.readers--
		if s.cancel != nil {
			s.cancel()
		}
		if b.err != nil && !errors.Is(b.err, context.Canceled) {
			return fmt.Errorf("read %s/%s: %w", l.cfg.Source, s.id, b.err)
		}
		return nil
	}
	if s.status != shardReading {
		// A stalled shard's reader may deliver one last batch: drop it
		// (nothing of it was added, so the checkpoint does not pass it).
		l.budget.release(int64(len(b.records)), b.bytes)
		return nil
	}
	s.behind = b.behind
	s.caughtUp = len(b.records) == 0 && b.behind <= 0
	d := &l.decision
	for i := range b.records {
		rec := &b.records[i]
		data := rec.Data
		seq := aws.ToString(rec.SequenceNumber)
		l.router.Route(data, d)
		var key uint64
		switch d.Kind {
		case repartition.KindInvalid:
			l.keyBuf = append(l.keyBuf[:0], aws.ToString(rec.PartitionKey)...)
			key = repartition.Hash(l.keyBuf)
			s.invalid++
			l.totals.Invalid++
			l.logInvalid(s, seq, d)
		default:
			key = d.Key
			if d.FirstFallback {
				l.log.Warn().Str("schema", string(d.Schema)).Str("table", string(d.Table)).
					Msg("no key columns known for table: using the table-level key (ordered, but one destination shard per table); set --key or enable DMS IncludeControlDetails")
			}
			if d.KeySource == repartition.SourceTable && d.Kind == repartition.KindData {
				l.totals.Fallback++
			}
			if d.PKChanged {
				l.totals.PKChanges++
			}
		}
		size := len(data) + repartition.PartitionKeyLen
		if size > l.maxRecord {
			l.stall(s, seq, size, b.records[i:])
			break
		}
		ord := s.wm.Add(seq, arrival(rec))
		if d.Learn != repartition.LearnNone {
			l.pending = append(l.pending, pendingLearn{
				shard: s.idx, ord: ord, op: d.Learn,
				schema: string(d.Schema), table: string(d.Table), cols: d.LearnColumns,
			})
			l.log.Info().Str("schema", string(d.Schema)).Str("table", string(d.Table)).
				Strs("key_columns", d.LearnColumns).Bool("forget", d.Learn == repartition.LearnForget).
				Str("shard_id", s.id).Str("seq", seq).Msg("key columns learned from control record")
		}
		e := l.sched.NewEntry()
		e.Data, e.Key, e.Size = data, key, size
		e.Shard, e.Ord, e.Seq, e.Arrival, e.Kind = s.idx, ord, seq, arrival(rec), d.Kind
		l.sched.Push(e)
		s.in++
		if l.totals.RecordsIn == 0 {
			l.totals.FirstIn = time.Now()
		}
		l.totals.RecordsIn++
		l.totals.BytesIn += int64(len(data))
	}
	if b.end && s.status == shardReading {
		s.status = shardReadEnd
		l.log.Info().Str("shard_id", s.id).Msg("shard read to its end")
		select {
		case l.relist <- struct{}{}: // children may be listed now
		default:
		}
		l.startEligible()
	}
	return nil
}

// stall stops a shard at a record the destination cannot take. Nothing
// from it on is queued, so the checkpoint stays before it.
func (l *loop) stall(s *shardState, seq string, size int, rest []types.Record) {
	var bytes int64
	for _, r := range rest {
		bytes += int64(len(r.Data))
	}
	l.budget.release(int64(len(rest)), bytes)
	s.status = shardStalled
	s.cancel()
	l.log.Error().Str("stream", l.cfg.Source).Str("shard_id", s.id).Str("seq", seq).
		Int("bytes", size).Int("max_record_bytes", l.maxRecord).
		Str("reason", "record larger than the destination's maximum record size (data + partition key)").
		Err(ErrShardStalled).Msg("shard stalled: no checkpoint past this record until it can be routed")
	l.r.mu.Lock()
	l.r.stats.StalledShards++
	l.r.mu.Unlock()
}

func arrival(rec *types.Record) int64 {
	if rec.ApproximateArrivalTimestamp != nil {
		return rec.ApproximateArrivalTimestamp.UnixNano()
	}
	return time.Now().UnixNano()
}

// logInvalid logs an invalid record (never its bytes) within a rate limit.
func (l *loop) logInvalid(s *shardState, seq string, d *repartition.Decision) {
	now := time.Now()
	if now.Sub(l.invalidWindow) >= time.Second {
		l.invalidWindow, l.invalidLogged = now, 0
	}
	if l.invalidLogged >= l.cfg.InvalidLogPerSecond {
		return
	}
	l.invalidLogged++
	l.log.Warn().Str("stream", l.cfg.Source).Str("shard_id", s.id).Str("seq", seq).
		Str("reason", d.ReasonText()).Str("route", "forward under the source partition key").
		Msg("invalid record")
}

// dispatch hands ready records to idle writers.
func (l *loop) dispatch() {
	for l.idle > 0 {
		now := time.Now().UnixNano()
		if !l.sched.Ready(now) {
			return
		}
		b := l.batches[len(l.batches)-1]
		l.batches = l.batches[:len(l.batches)-1]
		b.entries = l.sched.Next(now, l.cfg.BatchRecords, l.cfg.BatchBytes, b.entries[:0])
		l.idle--
		l.work <- b // buffered to MaxInFlight: never blocks
	}
}

// onPut settles a PutRecords outcome.
func (l *loop) onPut(b *putBatch) error {
	l.idle++
	defer func() {
		b.entries = b.entries[:0]
		l.batches = append(l.batches, b)
	}()
	now := time.Now().UnixNano()
	l.totals.Puts++
	l.putLat.add(b.took)
	if b.err != nil {
		switch b.class {
		case classFatal:
			return b.err
		case classCanceled:
			return l.ctx.Err()
		case classThrottled:
			l.totals.Throttles += int64(len(b.entries))
		default:
			l.totals.AmbiguousCalls++
			l.totals.Retries += int64(len(b.entries))
		}
		l.log.Warn().Err(b.err).Str("class", b.class.String()).Int("records", len(b.entries)).Msg("put records; entries stay first in line for their keys")
		for _, e := range b.entries {
			s := l.shards[e.Shard]
			if b.class == classThrottled {
				s.throttles++
			} else {
				s.retries++
			}
			l.sched.Retry(e, now, now+int64(backoffDelay(l.cfg.RetryBase, l.cfg.RetryMax, e.Attempts)))
		}
		return nil
	}
	var records, bytes int64
	for i, e := range b.entries {
		s := l.shards[e.Shard]
		if code := b.codes[i]; code != "" {
			if code == "ProvisionedThroughputExceededException" {
				s.throttles++
				l.totals.Throttles++
			} else {
				s.retries++
				l.totals.Retries++
			}
			l.sched.Retry(e, now, now+int64(backoffDelay(l.cfg.RetryBase, l.cfg.RetryMax, e.Attempts)))
			continue
		}
		s.wm.Ack(e.Ord)
		s.out++
		records++
		bytes += int64(len(e.Data))
		l.sched.Ack(e)
	}
	l.totals.RecordsOut += records
	l.totals.BytesOut += bytes
	if records > 0 {
		l.totals.LastOut = time.Now()
	}
	l.budget.release(records, bytes)
	return nil
}

// checkpoint builds the checkpoint at the current watermarks and folds the
// learned-key changes they now cover into the committed learned state.
func (l *loop) checkpoint(final bool) Checkpoint {
	cp := Checkpoint{Shards: make(map[string]ShardCheckpoint, len(l.fromCP)+len(l.shards)), UpdatedAt: time.Now().UTC()}
	for id, c := range l.fromCP {
		if _, listed := l.byID[id]; !listed {
			cp.Shards[id] = c // not listed (yet): keep what we knew
		}
	}
	for _, s := range l.shards {
		if s.status == shardReadEnd && s.wm.Pending() == 0 {
			s.status = shardFinished
			l.log.Info().Str("shard_id", s.id).Msg("shard finished: every record acknowledged")
		}
		seq, _ := s.wm.Committed()
		cp.Shards[s.id] = ShardCheckpoint{Seq: seq, Ended: s.status == shardFinished}
	}
	kept := l.pending[:0]
	for _, p := range l.pending {
		if _, ord := l.shards[p.shard].wm.Committed(); ord >= p.ord {
			l.committed.Apply(p.op, p.schema, p.table, p.cols)
		} else {
			kept = append(kept, p)
		}
	}
	l.pending = kept
	cp.Learned = l.committed.Tables()
	slices.SortFunc(cp.Learned, func(a, b repartition.TableKey) int {
		if a.Schema != b.Schema {
			if a.Schema < b.Schema {
				return -1
			}
			return 1
		}
		switch {
		case a.Table < b.Table:
			return -1
		case a.Table > b.Table:
			return 1
		}
		return 0
	})
	_ = final
	return cp
}

// save hands a changed checkpoint to the saver without waiting for disk.
func (l *loop) save() {
	cp := l.checkpoint(false)
	if maps.Equal(cp.Shards, l.lastSaved) && len(cp.Learned) == l.lastLearn && len(l.pending) == 0 {
		return
	}
	select {
	case l.saves <- cp:
		l.lastSaved, l.lastLearn = cp.Shards, len(cp.Learned)
	default: // the saver is still writing the previous one; next tick
	}
}

// saveLoop writes checkpoints handed to it until saves is closed.
func (l *loop) saveLoop(saves <-chan Checkpoint, errs chan<- error) {
	for cp := range saves {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := l.r.store.Save(ctx, cp)
		cancel()
		if err != nil {
			select {
			case errs <- err:
			default:
			}
			continue
		}
		l.r.mu.Lock()
		l.r.stats.Checkpoints++
		l.r.mu.Unlock()
	}
}

func (l *loop) logCheckpoint(cp Checkpoint, msg string) {
	ev := l.log.Info().Int("shards", len(cp.Shards)).Int("learned_keys", len(cp.Learned))
	for _, id := range slices.Sorted(maps.Keys(cp.Shards)) {
		c := cp.Shards[id]
		ev = ev.Dict(id, zerolog.Dict().Str("seq", c.Seq).Bool("ended", c.Ended))
	}
	ev.Msg(msg)
}
