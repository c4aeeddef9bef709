package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
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

// ErrCheckpointExpired says a checkpointed position aged out of the
// source's retention: records after it were deleted before repartd read
// them.
var ErrCheckpointExpired = errors.New("kinesisio: checkpoint aged out of the source's retention")

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
	snap  Snapshot
}

// Stats are the relay's running totals, for tests and the final log line.
type Stats struct {
	RecordsIn, RecordsOut  int64
	BytesIn, BytesOut      int64
	Invalid, Fallback      int64
	PKChanges              int64
	Fences, Resends        int64 // control records fenced; replay-mode resends
	DeadLettered           int64 // records sent to the dead-letter stream
	ExpiredCheckpoints     int64 // checkpoints found aged out of retention
	Retries, Throttles     int64
	AmbiguousCalls, Puts   int64
	BatchShrinks           int64 // times a timed-out call halved the batch size
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
	maxRecord, err := r.maxRecordSize(ctx, r.cfg.Dest)
	if err != nil {
		return err
	}
	var dlq *repartition.Scheduler
	dlqMax := 0
	if r.cfg.DLQStream != "" {
		if dlqMax, err = r.maxRecordSize(ctx, r.cfg.DLQStream); err != nil {
			return fmt.Errorf("dead-letter stream: %w", err)
		}
		dlq = repartition.NewScheduler(repartition.SchedulerConfig{})
		if dlqMax <= maxRecord {
			r.log.Warn().Str("dlq_stream", r.cfg.DLQStream).Int("dlq_max_record_bytes", dlqMax).Int("max_record_bytes", maxRecord).
				Msg("records too big for the destination will be dead-lettered raw (without the header line): give the dead-letter stream a larger MaxRecordSizeInKiB to keep their reason with them")
		}
	}
	var learned repartition.Learned
	for _, t := range cp.Learned {
		learned.Apply(repartition.LearnSet, t.Schema, t.Table, t.Columns)
	}
	if !found {
		cp.Shards = map[string]ShardCheckpoint{}
	}
	destShards, err := listShards(ctx, r.dst, r.cfg.Dest)
	if err != nil {
		return fmt.Errorf("list shards of destination %s: %w", r.cfg.Dest, err)
	}
	perKey := 1
	if r.cfg.Ordering == OrderingReplay {
		perKey = r.cfg.BatchRecords
	}
	sched := repartition.NewScheduler(repartition.SchedulerConfig{
		PerKey:      perKey,
		LaneRecords: float64(r.cfg.ShardRecordsPerSec),
		LaneBytes:   float64(r.cfg.ShardBytesPerSec),
	})
	sched.SetLanes(Lanes(destShards))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	l := &loop{
		r:            r,
		cfg:          &r.cfg,
		log:          r.log,
		ctx:          gctx,
		g:            g,
		router:       repartition.NewRouter(r.cfg.Rules, learned),
		committed:    learned.Clone(),
		sched:        sched,
		dlq:          dlq,
		dlqMaxRecord: dlqMax,
		budget:       newBudget(int64(r.cfg.MaxBufferedRecords), r.cfg.MaxBufferedBytes, int64(r.cfg.uncommittedBound())),
		maxRecord:    maxRecord,
		fromCP:       cp.Shards,
		resumed:      found,
		byID:         map[string]*shardState{},
		fromReader:   make(chan readBatch),
		work:         make(chan *putBatch, r.cfg.MaxInFlight),
		done:         make(chan *putBatch, r.cfg.MaxInFlight),
		listed:       make(chan listResult),
		destListed:   make(chan listResult),
		relist:       make(chan struct{}, 1),
		saves:        make(chan Checkpoint, 1),
		saveErrs:     make(chan error, 1),
		idle:         r.cfg.MaxInFlight,
		batchRecords: r.cfg.BatchRecords,
		batchBytes:   r.cfg.BatchBytes,
	}
	l.readerCtx, l.stopReaders = context.WithCancel(gctx)
	defer l.stopReaders()
	for range r.cfg.MaxInFlight {
		w := &writer{dst: r.dst, timeout: r.cfg.PutTimeout}
		g.Go(func() error { return w.run(gctx, l.work, l.done) })
		l.batches = append(l.batches, &putBatch{})
	}
	lister := &shardLister{src: r.src, stream: r.cfg.Source, every: r.cfg.ShardRefresh, log: r.log}
	g.Go(func() error { return lister.run(gctx, l.relist, l.listed) })
	destLister := &shardLister{src: r.dst, stream: r.cfg.Dest, every: r.cfg.ShardRefresh, log: r.log}
	g.Go(func() error { return destLister.run(gctx, nil, l.destListed) })
	l.laneStarts = Lanes(destShards)
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

func (r *Relay) maxRecordSize(ctx context.Context, stream string) (int, error) {
	if r.cfg.MaxRecordSize > 0 && stream == r.cfg.Dest {
		return r.cfg.MaxRecordSize, nil
	}
	out, err := r.dst.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return 0, fmt.Errorf("describe %s: %w", stream, err)
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

	pkType string // metadata.partition-key-type first seen

	lastAckAge int64 // ms from source arrival to acknowledgement, last record

	// running totals, for metrics
	totalIn, totalOut, totalInvalid, totalDLQ int64

	// counters since the last lag line
	in, out, retries, throttles, invalid, dlq, pkChanges int64
	bytesIn, bytesOut                                    int64
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
	dlq    *repartition.Scheduler // nil without a dead-letter stream
	budget *budget

	dlqMaxRecord int

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
	// batchRecords and batchBytes bound the next PutRecords calls. They
	// start at the configured sizes; a call that times out halves them
	// (its entries are re-sent in smaller calls, so a slow destination
	// cannot livelock on batches too big to finish within PutTimeout),
	// and calls that finish well within the timeout grow them back.
	batchRecords, batchBytes int
	listed                   chan listResult
	destListed               chan listResult
	laneStarts               []repartition.LaneStart
	relist                   chan struct{}
	saves                    chan Checkpoint
	saveErrs                 chan error

	draining  bool
	idleSince time.Time
	lastSaved map[string]ShardCheckpoint
	lastLearn int

	expiredByReaders atomic.Int64

	decision repartition.Decision
	keyBuf   []byte

	invalidLogged int
	invalidWindow time.Time
	putLat        latencies
	totals        Stats
	putHist       Histogram
	e2eHist       Histogram
	lastPutOK     time.Time
	savedAt       atomic.Int64 // unix nanos of the last checkpoint written (or found unchanged)
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
			l.log.Error().Int("buffered_records", l.buffered()).Dur("drain_timeout", l.cfg.DrainTimeout).Msg("drain timed out; checkpoint stays at the watermark")
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
		case res := <-l.destListed:
			l.onDestList(res)
		case <-retry.C:
		case <-cpTick.C:
			l.save()
			l.publish()
		case err := <-l.saveErrs:
			l.log.Error().Err(err).Msg("checkpoint not saved; retrying at the next interval")
		case <-logTick.C:
			l.logLag()
		}
		l.dispatch()
		if w := l.nextWake(); w != 0 {
			retry.Reset(time.Duration(max(w-time.Now().UnixNano(), 0)))
		}
		if l.draining && l.readers == 0 && l.buffered() == 0 {
			l.log.Info().Msg("drained")
			for _, s := range l.shards {
				if s.status == shardStalled {
					// Drained, but a shard never got past a record:
					// say so in the exit status, not just the logs.
					return fmt.Errorf("shard %s: %w", s.id, ErrShardStalled)
				}
			}
			return nil
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
	l.log.Info().Int("buffered_records", l.buffered()).Int("readers", l.readers).Msg("draining: reading stopped, finishing in-flight records")
}

// checkIdle reports whether StopWhenIdle has elapsed with every shard caught
// up and nothing buffered.
func (l *loop) checkIdle() bool {
	idle := l.listedYet && l.buffered() == 0
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
	if first {
		listed := map[string]bool{}
		for _, sh := range res.shards {
			listed[aws.ToString(sh.ShardId)] = true
		}
		for _, id := range slices.Sorted(maps.Keys(l.fromCP)) {
			if c := l.fromCP[id]; !c.Ended && !listed[id] {
				err := fmt.Errorf("%s/%s: checkpoint %s on a shard that is gone: %w", l.cfg.Source, id, c.Seq, ErrCheckpointExpired)
				if l.cfg.OnExpiredCheckpoint != ExpiredTrimHorizon {
					return err
				}
				l.log.Error().Err(err).Str("shard_id", id).Str("seq", c.Seq).
					Msg("checkpointed shard aged out of retention before it was read to its end; going on with its children (--on-expired-checkpoint trim-horizon)")
				l.fromCP[id] = ShardCheckpoint{Seq: c.Seq, Ended: true}
				l.totals.ExpiredCheckpoints++
			}
		}
	}
	for _, sh := range res.shards {
		id := aws.ToString(sh.ShardId)
		if _, ok := l.byID[id]; ok {
			continue
		}
		s := &shardState{id: id, idx: len(l.shards), behind: -1, initial: types.ShardIteratorTypeTrimHorizon}
		s.parents = shardParents(sh)
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

// onDestList re-maps the destination's shards (lanes) after a reshard or an
// on-demand scale-out, so pacing and DDL copies follow the real shards.
func (l *loop) onDestList(res listResult) {
	if res.err != nil {
		l.log.Warn().Err(res.err).Str("stream", l.cfg.Dest).Msg("list destination shards; keeping the old map")
		return
	}
	lanes := Lanes(res.shards)
	if len(lanes) == 0 || slices.Equal(lanes, l.laneStarts) {
		return
	}
	l.log.Info().Str("stream", l.cfg.Dest).Int("open_shards", len(lanes)).Int("was", len(l.laneStarts)).Msg("destination shard map changed")
	l.laneStarts = lanes
	l.sched.SetLanes(lanes)
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
		if !parentsDone(s.parents, func(id string) (bool, bool) {
			ps, ok := l.byID[id]
			return ok && (ps.status == shardReadEnd || ps.status == shardFinished), ok
		}) {
			continue
		}
		s.status = shardReading
		ctx, cancel := context.WithCancel(l.readerCtx)
		s.cancel = cancel
		rd := &reader{
			src: l.r.src, stream: l.cfg.Source, shard: s.id, after: s.startSeq, initial: s.initial,
			cfg: l.cfg, budget: l.budget, out: l.fromReader, expired: &l.expiredByReaders,
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
	for i := range b.records {
		if !l.route(s, &b.records[i]) {
			l.stall(s, b.records[i:])
			break
		}
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

// route queues one record (on the destination, or on the dead-letter
// stream) and reports true, or reports false if the record must stop its
// shard (it was logged).
func (l *loop) route(s *shardState, rec *types.Record) bool {
	d := &l.decision
	data := rec.Data
	seq := aws.ToString(rec.SequenceNumber)
	l.router.Route(data, d)
	var key uint64
	dlqReason := ""
	switch d.Kind {
	case repartition.KindInvalid:
		l.keyBuf = append(l.keyBuf[:0], aws.ToString(rec.PartitionKey)...)
		key = repartition.Hash(l.keyBuf)
		s.invalid++
		s.totalInvalid++
		l.totals.Invalid++
		switch l.cfg.OnInvalid {
		case InvalidStop:
			l.logBad(s, seq, d.ReasonText(), "stop: no checkpoint past it", len(data), true)
			return false
		case InvalidDLQ:
			dlqReason = d.ReasonText()
		default:
			l.logBad(s, seq, d.ReasonText(), "forward under the source partition key", len(data), false)
		}
	default:
		key = d.Key
		l.noteDecision(s, seq, d)
	}
	size := len(data) + repartition.PartitionKeyLen
	if dlqReason == "" && size > l.maxRecord {
		if l.dlq == nil {
			l.logBad(s, seq, fmt.Sprintf("record of %d bytes (with its partition key) is over the destination's maximum of %d", size, l.maxRecord),
				"stop: no dead-letter stream set (--dlq-stream); no checkpoint past it", size, true)
			return false
		}
		l.keyBuf = append(l.keyBuf[:0], aws.ToString(rec.PartitionKey)...)
		key = repartition.Hash(l.keyBuf)
		dlqReason = fmt.Sprintf("record of %d bytes (with its partition key) is over the destination's maximum of %d", size, l.maxRecord)
	}
	if dlqReason != "" {
		srcPK := aws.ToString(rec.PartitionKey)
		env := dlqEnvelope(dlqReason, l.cfg.Source, s.id, seq, srcPK, data)
		route := "dead-letter stream " + l.cfg.DLQStream
		pk, size := "", len(env)+repartition.PartitionKeyLen
		if size > l.dlqMaxRecord {
			// No room for the header line (a record just under the source's
			// limit, with a dead-letter stream of the same limit): send the
			// untouched record under its source partition key, which made
			// it fit the source. Its reason is in this log line.
			env, pk, size = data, srcPK, len(data)+len(srcPK)
			route += " (raw: no room for the header line)"
		}
		if size > l.dlqMaxRecord {
			l.logBad(s, seq, dlqReason+"; too large for the dead-letter stream too", "stop: no checkpoint past it", len(data), true)
			return false
		}
		l.logBad(s, seq, dlqReason, route, len(data), false)
		e := l.dlq.NewEntry()
		e.Data, e.Key, e.Size, e.PartitionKey = env, key, size, pk
		e.Shard, e.Ord, e.Seq, e.Arrival, e.Kind = s.idx, s.wm.Add(seq, arrival(rec)), seq, arrival(rec), repartition.KindInvalid
		l.dlq.Push(e)
		l.budget.release(0, int64(len(data))) // the envelope is a copy; its source bytes are done with
		l.totals.DeadLettered++
		s.dlq++
		s.totalDLQ++
		l.countIn(s, len(data))
		return true
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
	if d.Kind != repartition.KindInvalid {
		e.Table = d.TableKey
	}
	if d.Kind == repartition.KindControl {
		// DDL is a barrier for its table (task-level: for everything),
		// written once to every destination shard.
		e.Fence = repartition.FenceTable
		if len(d.Table) == 0 {
			e.Fence = repartition.FenceAll
		}
		l.totals.Fences++
	}
	l.sched.Push(e)
	l.countIn(s, len(data))
	return true
}

func (l *loop) countIn(s *shardState, n int) {
	s.in++
	s.totalIn++
	s.bytesIn += int64(n)
	if l.totals.RecordsIn == 0 {
		l.totals.FirstIn = time.Now()
	}
	l.totals.RecordsIn++
	l.totals.BytesIn += int64(n)
}

// noteDecision counts and logs what a valid record says about the source.
func (l *loop) noteDecision(s *shardState, seq string, d *repartition.Decision) {
	if d.FirstFallback {
		l.log.Warn().Str("schema", string(d.Schema)).Str("table", string(d.Table)).
			Msg("no key columns known for table: using the table-level key (ordered, but one destination shard per table); set --key or enable DMS IncludeControlDetails")
	}
	if d.Kind != repartition.KindData {
		return
	}
	if d.KeySource == repartition.SourceTable {
		l.totals.Fallback++
	}
	if d.PKChanged {
		l.totals.PKChanges++
		s.pkChanges++
	}
	if s.pkType == "" && len(d.PartitionKeyType) > 0 {
		s.pkType = string(d.PartitionKeyType)
		ev := l.log.Info()
		msg := "source partition key type"
		switch s.pkType {
		case "transaction-id":
			ev = l.log.Warn()
			msg = "DMS keys this source by transaction id: one row's changes are spread over source shards, so their order across shards cannot be restored; key DMS by schema-table or primary-key"
		case "primary-key":
			msg = "DMS already keys this source by primary key: repartd is not needed to spread it, but keeps working"
		}
		ev.Str("stream", l.cfg.Source).Str("shard_id", s.id).Str("seq", seq).Str("partition_key_type", s.pkType).Msg(msg)
	}
}

// logBad logs a record that does not go its normal way: where, why and
// what happens to it, never its content.
func (l *loop) logBad(s *shardState, seq, reason, route string, size int, stops bool) {
	if !stops {
		now := time.Now()
		if now.Sub(l.invalidWindow) >= time.Second {
			l.invalidWindow, l.invalidLogged = now, 0
		}
		if l.invalidLogged >= l.cfg.InvalidLogPerSecond {
			return // counted in the lag lines
		}
		l.invalidLogged++
	}
	ev := l.log.Warn()
	if stops {
		ev = l.log.Error().Err(ErrShardStalled)
	}
	ev.Str("stream", l.cfg.Source).Str("shard_id", s.id).Str("seq", seq).Int("bytes", size).
		Str("reason", reason).Str("route", route).Msg("bad record")
}

// stall stops a shard at a record that cannot be routed: nothing from it on
// is queued, so the checkpoint stays before it.
func (l *loop) stall(s *shardState, rest []types.Record) {
	var bytes int64
	for _, r := range rest {
		bytes += int64(len(r.Data))
	}
	l.budget.release(int64(len(rest)), bytes)
	s.status = shardStalled
	s.cancel()
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

// dispatch hands ready records to idle writers, dead letters first.
func (l *loop) dispatch() {
	if l.dlq != nil {
		l.dispatchFrom(l.dlq, l.cfg.DLQStream, true)
	}
	l.dispatchFrom(l.sched, l.cfg.Dest, false)
}

func (l *loop) dispatchFrom(s *repartition.Scheduler, stream string, dlq bool) {
	for l.idle > 0 {
		now := time.Now().UnixNano()
		if !s.Ready(now) {
			return
		}
		b := l.batches[len(l.batches)-1]
		b.entries = s.Next(now, l.batchRecords, l.batchBytes, b.entries[:0])
		if len(b.entries) == 0 {
			return // lanes out of tokens; the wake timer brings us back
		}
		b.stream, b.dlq = stream, dlq
		l.batches = l.batches[:len(l.batches)-1]
		l.idle--
		l.work <- b // buffered to MaxInFlight: never blocks
	}
}

// buffered counts records read and not yet written, on either stream.
func (l *loop) buffered() int {
	n, _ := l.sched.Buffered()
	if l.dlq != nil {
		d, _ := l.dlq.Buffered()
		n += d
	}
	return n
}

// nextWake is the earliest time a scheduler has something waiting on time.
func (l *loop) nextWake() int64 {
	w := l.sched.NextWake()
	if l.dlq != nil {
		if d := l.dlq.NextWake(); d != 0 && (w == 0 || d < w) {
			w = d
		}
	}
	return w
}

// onPut settles a PutRecords outcome.
func (l *loop) onPut(b *putBatch) error {
	l.idle++
	defer func() {
		b.entries = b.entries[:0]
		l.batches = append(l.batches, b)
	}()
	now := time.Now().UnixNano()
	sched := l.sched
	if b.dlq {
		sched = l.dlq
	}
	l.totals.Puts++
	l.putLat.add(b.took)
	l.putHist.observe(float64(b.took) / float64(time.Millisecond))
	l.adaptBatch(b)
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
			sched.Retry(e, now, now+int64(backoffDelay(l.cfg.RetryBase, l.cfg.RetryMax, e.Attempts)))
		}
		return nil
	}
	// A record leaves the read budget's unacknowledged bound when it is
	// acknowledged, and its uncommitted bound when the watermark passes it:
	// records acknowledged behind an older one still waiting (a hot row in
	// strict order) stay uncommitted, so the watermark's memory for them,
	// and what a restart replays, stay within MaxUncommittedRecords however
	// far one row falls behind. Reading then waits for that row.
	var records, bytes, committed int64
	for i, e := range b.entries {
		s := l.shards[e.Shard]
		if code := b.codes[i]; code != "" {
			if code == "ProvisionedThroughputExceededException" {
				s.throttles++
				l.totals.Throttles++
				sched.Throttled(e.Lane, now) // pause the shard, not the request
			} else {
				s.retries++
				l.totals.Retries++
			}
			sched.Retry(e, now, now+int64(backoffDelay(l.cfg.RetryBase, l.cfg.RetryMax, e.Attempts)))
			continue
		}
		size := int64(len(e.Data))
		if b.dlq {
			size = 0 // released when the envelope was made
		}
		o := sched.Ack(e, now)
		switch {
		case o.Resend:
			l.totals.Resends++
		case o.Done:
			sh := l.shards[o.Shard]
			_, before := sh.wm.Committed()
			sh.wm.Ack(o.Ord)
			_, after := sh.wm.Committed()
			committed += int64(after - before)
			sh.out++
			sh.totalOut++
			sh.bytesOut += size
			age := float64(now-o.Arrival) / float64(time.Millisecond)
			sh.lastAckAge = int64(age)
			l.e2eHist.observe(age)
			records++
			bytes += size
		}
	}
	l.totals.RecordsOut += records
	l.totals.BytesOut += bytes
	if records > 0 {
		l.totals.LastOut = time.Now()
		l.lastPutOK = l.totals.LastOut
	}
	l.budget.ack(records, bytes, committed)
	return nil
}

// adaptBatch shrinks the batch bounds after a call timed out and grows
// them back after full calls that finish within half the timeout: AIMD, like
// TCP's window, so a destination that is slow for big calls still makes
// progress, and one that recovers gets full batches again. A single
// record that cannot be written within PutTimeout keeps timing out; the
// stall detector reports it.
func (l *loop) adaptBatch(b *putBatch) {
	n := len(b.entries)
	switch {
	case b.timedOut && n > 1:
		recs := max(1, min(l.batchRecords, n/2))
		if recs == l.batchRecords {
			return
		}
		l.batchRecords = recs
		// Bytes follow records, so a batch of a few big records shrinks too.
		// Next always hands out at least one record, whatever its size.
		l.batchBytes = max(1, l.cfg.BatchBytes*recs/l.cfg.BatchRecords)
		l.totals.BatchShrinks++
		l.log.Warn().Str("stream", b.stream).Int("records", n).Dur("put_timeout", l.cfg.PutTimeout).
			Int("batch_records", l.batchRecords).Int("batch_bytes", l.batchBytes).
			Msg("put records timed out; sending smaller batches until calls finish in time")
	case b.err == nil && n >= l.batchRecords && l.batchRecords < l.cfg.BatchRecords && b.took < l.cfg.PutTimeout/2:
		// Only a full call that was quick says a bigger one would fit.
		l.batchRecords = min(l.cfg.BatchRecords, l.batchRecords+max(1, l.batchRecords/4))
		l.batchBytes = max(1, l.cfg.BatchBytes*l.batchRecords/l.cfg.BatchRecords)
		if l.batchRecords == l.cfg.BatchRecords {
			l.batchBytes = l.cfg.BatchBytes
			l.log.Info().Str("stream", b.stream).Int("batch_records", l.batchRecords).Msg("put records in time again; batches back to full size")
		}
	}
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
		l.savedAt.Store(time.Now().UnixNano()) // nothing new to save: still fresh
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
		l.savedAt.Store(time.Now().UnixNano())
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
