package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/bits"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/cespare/xxhash/v2"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/repartition"
)

func cmdVerify(ctx context.Context, args []string, getenv func(string) string, io stdio, sig <-chan os.Signal) error {
	fcfg := kinesisio.DefaultFollowConfig()
	fcfg.PollInterval = time.Second // share the source's 5 reads/s with the relay
	fs := newFlags("verify --source S --dest D [--key ...] [--order first|last|both] [--follow [--interval D] [--grace D]]",
		"Read both streams from TRIM_HORIZON to their current end and print one JSON summary line.\n"+
			"Exit 1 on any missing, unexpected or misrouted record or order violation (--order says which).\n"+
			"--follow keeps reading both streams, prints a progress line every --interval, and on\n"+
			"SIGINT/SIGTERM prints a final line (\"final\":true); a source record is pending, not missing,\n"+
			"until it stays undelivered longer than --grace.", io.err)
	var keys keyFlag
	source := fs.String("source", "", "source stream")
	dest := fs.String("dest", "", "destination stream")
	fs.Var(&keys, "key", keyUsage)
	srcEndpoint := fs.String("source-endpoint-url", "", "endpoint for the source stream only")
	dstEndpoint := fs.String("dest-endpoint-url", "", "endpoint for the destination stream only")
	histogram := fs.Bool("histogram", false, "also draw records per destination shard on stderr")
	order := fs.String("order", "first", "which order violations fail ok: first (per key, first deliveries in source order), last (last deliveries: what replaying consumers see) or both")
	follow := fs.Bool("follow", false, "keep reading both streams; print a progress line every --interval until SIGINT/SIGTERM")
	interval := fs.Duration("interval", 10*time.Second, "with --follow: time between progress lines")
	grace := fs.Duration("grace", 5*time.Minute, "with --follow: how long a source record may stay undelivered (pending) before it is missing, and a destination record unmatched before it is unexpected")
	fs.DurationVar(&fcfg.PollInterval, "poll-interval", fcfg.PollInterval, "with --follow: least time between GetRecords calls on one shard (≥ 200ms; the relay reads the same source shard)")
	fs.DurationVar(&fcfg.ShardRefresh, "shard-refresh", fcfg.ShardRefresh, "with --follow: how often to re-list shards")
	level := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr; the report to stdout)")
	format := fs.String("log-format", "json", "json (one object per line) or console (for people)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	var errs []error
	if *source == "" || *dest == "" {
		errs = append(errs, errors.New("source and dest: required"))
	}
	om, err := parseOrderMode(*order)
	if err != nil {
		errs = append(errs, err)
	}
	if *interval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("interval %s: must be ≥ 100ms", *interval))
	}
	if *grace < 0 {
		errs = append(errs, fmt.Errorf("grace %s: must be ≥ 0", *grace))
	}
	if err := fcfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	rules, err := keys.keyRules()
	if err != nil {
		errs = append(errs, err)
	}
	log, err := newLogger(io.err, *level, *format)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError(err)
	}
	src, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *srcEndpoint})
	if err != nil {
		return err
	}
	dst, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *dstEndpoint})
	if err != nil {
		return err
	}
	c := newChecker(rules, checkerOptions{follow: *follow, grace: *grace, order: om})
	var rep Report
	if *follow {
		log.Info().Str("version", versionString()).Str("source", *source).Str("dest", *dest).Str("keys", keys.String()).
			Str("order", om.String()).Dur("interval", *interval).Dur("grace", *grace).
			Dur("poll_interval", fcfg.PollInterval).Dur("shard_refresh", fcfg.ShardRefresh).Msg("effective config")
		if rep, err = followStreams(ctx, c, src, dst, *source, *dest, fcfg, *interval, sig, io.out, log); err != nil {
			return err
		}
	} else if rep, err = readBoth(ctx, c, src, dst, *source, *dest, sig); err != nil {
		return err
	}
	if *histogram {
		drawHistogram(io.err, rep.DestShardRecords)
	}
	if err := json.NewEncoder(io.out).Encode(rep); err != nil {
		return err
	}
	if !rep.OK {
		return &exitError{code: 1, err: errors.New("")}
	}
	return nil
}

// readBoth reads the source, then the destination, to their current end
// and reports. A signal stops it (exit 130): there is no partial verdict.
func readBoth(ctx context.Context, c *checker, src, dst kinesisio.Source, source, dest string, sig <-chan os.Signal) (Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with ctx: cancel runs when readBoth returns
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := kinesisio.ReadAll(ctx, src, source, c.addSource)
	if err == nil {
		err = kinesisio.ReadAll(ctx, dst, dest, c.addDest)
	}
	switch {
	case err == nil:
		return c.report(time.Now(), true), nil
	case errors.Is(err, context.Canceled):
		return Report{}, &exitError{code: 130, err: errors.New("stopped before both streams were read")}
	}
	return Report{}, err
}

// errStopped ends the follow loop on a signal; not a failure.
var errStopped = errors.New("verify: stopped")

// followStreams feeds both streams into c as they grow and prints a
// progress line every interval, until a signal or the end of ctx. It
// returns the final report (printed by the caller).
func followStreams(ctx context.Context, c *checker, src, dst kinesisio.Source, source, dest string,
	fcfg kinesisio.FollowConfig, interval time.Duration, sig <-chan os.Signal, out io.Writer, log zerolog.Logger) (Report, error) {
	g, gctx := errgroup.WithContext(ctx)
	srcCh := make(chan kinesisio.ShardBatch)
	dstCh := make(chan kinesisio.ShardBatch)
	g.Go(func() error {
		return kinesisio.Follow(gctx, src, source, fcfg, log.With().Str("component", "follow").Str("stream", source).Logger(), srcCh)
	})
	g.Go(func() error {
		return kinesisio.Follow(gctx, dst, dest, fcfg, log.With().Str("component", "follow").Str("stream", dest).Logger(), dstCh)
	})
	var final Report
	g.Go(func() error {
		t := time.NewTicker(interval)
		defer t.Stop()
		enc := json.NewEncoder(out)
		for {
			// Source first, so destination records find theirs.
			select {
			case b := <-srcCh:
				if err := c.onSource(b, time.Now()); err != nil {
					return err
				}
				continue
			default:
			}
			in := dstCh
			if c.orphanCount() >= maxOrphans {
				in = nil // memory bound: wait for the source to catch up or for grace to expire them
			}
			select {
			case b := <-srcCh:
				if err := c.onSource(b, time.Now()); err != nil {
					return err
				}
			case b := <-in:
				c.onDest(b, time.Now())
			case <-t.C:
				if err := enc.Encode(c.report(time.Now(), false)); err != nil {
					return err
				}
			case s := <-sig:
				log.Info().Str("signal", s.String()).Msg("stopping")
				final = c.report(time.Now(), true)
				return errStopped
			case <-gctx.Done():
				if ctx.Err() != nil { // our caller stopped us: as a signal
					final = c.report(time.Now(), true)
					return errStopped
				}
				return gctx.Err()
			}
		}
	})
	if err := g.Wait(); !errors.Is(err, errStopped) {
		return Report{}, err
	}
	return final, nil
}

// Report is verify's output line (documented in the README). Fields are
// only ever added, never renamed.
type Report struct {
	SourceRecords    int            `json:"source_records"`
	DestRecords      int            `json:"dest_records"`
	Missing          int            `json:"missing"`
	Duplicates       int            `json:"duplicates"`
	Unexpected       int            `json:"unexpected"`
	OrderViolations  int            `json:"order_violations"`
	Misrouted        int            `json:"misrouted"`
	Keys             int            `json:"keys"`
	ShardsUsed       int            `json:"shards_used"`
	DestShards       int            `json:"dest_shards"`
	DestShardRecords map[string]int `json:"dest_shard_records"`

	LastOrderViolations int    `json:"last_order_violations"`
	SplitKeys           int    `json:"split_keys"`
	ControlCopies       int    `json:"control_copies"`
	Pending             int    `json:"pending"`
	LagRecords          int    `json:"lag_records"`
	OldestMissingAgeMs  int64  `json:"oldest_missing_age_ms"`
	UnexpectedPending   int    `json:"unexpected_pending"`
	Order               string `json:"order"`
	Final               bool   `json:"final"`

	OK bool `json:"ok"`
}

// orderMode says which order violations make a report not ok.
type orderMode uint8

const (
	orderFirst orderMode = iota
	orderLast
	orderBoth
)

func parseOrderMode(s string) (orderMode, error) {
	switch s {
	case "first":
		return orderFirst, nil
	case "last":
		return orderLast, nil
	case "both":
		return orderBoth, nil
	}
	return 0, fmt.Errorf("order %q: want first, last or both", s)
}

func (m orderMode) String() string {
	switch m {
	case orderLast:
		return "last"
	case orderBoth:
		return "both"
	}
	return "first"
}

type checkerOptions struct {
	// follow: the streams are still growing. A destination record whose
	// source record was not read yet waits (unexpected_pending) instead of
	// counting as unexpected, and an undelivered source record is pending;
	// either counts only once older than grace.
	follow bool
	grace  time.Duration
	order  orderMode
}

// maxOrphans bounds destination records held while their source record is
// not read yet (follow mode): about 64 bytes each. Past it the destination
// is not read until the source catches up or grace expires them.
const maxOrphans = 1 << 18

// checker compares a destination with its source. It judges order by each
// record's identity (its payload hash) and the key it should have, not by
// what repartd's relay did, so it checks the relay rather than mirrors it.
//
// Invariants:
//   - Source records are added in lineage order (a shard after its
//     parents), keys computed by one Router in that order, so each key's
//     records form a chain (prevKey) in source order.
//   - A destination position is (shard, sequence number). Per key,
//     positions order by shard lineage (a parent's records before its
//     children's), then by sequence number; positions in unrelated shards
//     (split keys) compare by sequence number alone, as a best effort.
//   - Per source record it keeps 48 bytes however often it was delivered:
//     its first (lowest) position, and for records delivered more than
//     once its last (highest) one in lastPos. Deliveries are not kept.
type checker struct {
	router *repartition.Router
	d      repartition.Decision
	opt    checkerOptions

	recs    []srcRec
	keys    []keyState
	keyIdx  map[uint64]int32  // routing key -> keys index
	byID    map[uint64]int32  // payload hash -> newest source record with it (older via prevID)
	lastPos map[int32]destPos // records delivered more than once: their last delivery
	dirty   []int32           // keys whose deliveries changed since the last judge

	// pending holds every source record not known delivered at the last
	// compaction, and every one added since; compacted by report.
	pending     []pendingRec
	pendingKept int

	orphans  map[uint64][]orphan // follow: payload hash -> deliveries waiting for their source record
	nOrphans int

	shards shardTable

	destRecords, duplicates, unexpected, misrouted int
	firstViol, lastViol, splitKeys, controlCopies  int
}

// srcRec is one source record: 48 bytes.
type srcRec struct {
	first   destPos // lowest delivery position; valid when n > 0
	key     int32   // index in checker.keys
	prevKey int32   // previous record of the same key, -1 for none
	prevID  int32   // previous record with the same payload hash, -1 for none
	n       uint16  // deliveries, saturating
	control bool    // a DMS control record: copied to every destination shard
}

type keyState struct {
	key       uint64
	tail      int32 // newest source record of the key
	shard     int32 // destination shard of the latest delivery processed, -1 for none
	firstViol int32 // as of the last judge
	lastViol  int32
	dirty     bool
	split     bool // delivered to two shards that are not ancestor and descendant
}

type pendingRec struct {
	idx       int32
	arrivalMs int64 // ApproximateArrivalTimestamp
}

type orphan struct {
	pos    destPos
	pk     uint64
	pkOK   bool
	seenMs int64
}

// destPos is where a delivery sits in the destination. ord is its index in
// its shard as read, a tie-break for sequence numbers too long to hold.
type destPos struct {
	seq   u192
	shard int32
	ord   uint32
}

func newChecker(rules *repartition.KeyRules, opt checkerOptions) *checker {
	return &checker{
		router:  repartition.NewRouter(rules, repartition.Learned{}),
		opt:     opt,
		keyIdx:  map[uint64]int32{},
		byID:    map[uint64]int32{},
		lastPos: map[int32]destPos{},
		orphans: map[uint64][]orphan{},
		shards:  shardTable{idx: map[string]int32{}, anc: map[[2]int32]bool{}},
	}
}

// addSource is ReadAll's callback for the source stream.
func (c *checker) addSource(sr kinesisio.ShardRecords) error {
	return c.source(sr.Records, time.Now())
}

// addDest is ReadAll's callback for the destination stream.
func (c *checker) addDest(sr kinesisio.ShardRecords) error {
	c.dest(c.shards.add(sr.Shard), sr.Records, time.Now())
	return nil
}

func (c *checker) onSource(b kinesisio.ShardBatch, now time.Time) error {
	return c.source(b.Records, now)
}

func (c *checker) onDest(b kinesisio.ShardBatch, now time.Time) {
	c.dest(c.shards.add(b.Shard), b.Records, now)
}

func (c *checker) orphanCount() int { return c.nOrphans }

func (c *checker) source(recs []types.Record, now time.Time) error {
	for k := range recs {
		r := &recs[k]
		if len(c.recs) >= math.MaxInt32 {
			return errors.New("verify: more than 2^31-1 source records")
		}
		key := c.keyOf(r)
		ki, ok := c.keyIdx[key]
		if !ok {
			ki = int32(len(c.keys))
			c.keyIdx[key] = ki
			c.keys = append(c.keys, keyState{key: key, tail: -1, shard: -1})
		}
		i := int32(len(c.recs))
		id := xxhash.Sum64(r.Data)
		prevID, had := c.byID[id]
		if !had {
			prevID = -1
		}
		c.recs = append(c.recs, srcRec{key: ki, prevKey: c.keys[ki].tail, prevID: prevID, control: c.d.Kind == repartition.KindControl})
		c.keys[ki].tail = i
		c.byID[id] = i
		arrival := now
		if r.ApproximateArrivalTimestamp != nil {
			arrival = *r.ApproximateArrivalTimestamp
		}
		c.pending = append(c.pending, pendingRec{idx: i, arrivalMs: arrival.UnixMilli()})
		if waiting, ok := c.orphans[id]; ok {
			delete(c.orphans, id)
			c.nOrphans -= len(waiting)
			for _, o := range waiting {
				c.match(id, o.pos, o.pk, o.pkOK)
			}
		}
	}
	if len(c.pending) > 2*c.pendingKept+4096 {
		c.compactPending(now)
	}
	return nil
}

// keyOf is the key the record must travel under: its routing key, or for
// invalid records the hash of its source partition key.
func (c *checker) keyOf(r *types.Record) uint64 {
	c.router.Route(r.Data, &c.d)
	if c.d.Kind == repartition.KindInvalid {
		return repartition.Hash([]byte(aws.ToString(r.PartitionKey)))
	}
	return c.d.Key
}

func (c *checker) dest(s int32, recs []types.Record, now time.Time) {
	sh := &c.shards.list[s]
	for k := range recs {
		r := &recs[k]
		c.destRecords++
		sh.records++
		pos := destPos{seq: parseU192(aws.ToString(r.SequenceNumber)), shard: s, ord: sh.next}
		sh.next++
		pk, pkOK := parsePartitionKey(aws.ToString(r.PartitionKey))
		id := xxhash.Sum64(r.Data)
		if _, ok := c.byID[id]; ok {
			c.match(id, pos, pk, pkOK)
			continue
		}
		if !c.opt.follow {
			c.unexpected++
			continue
		}
		c.orphans[id] = append(c.orphans[id], orphan{pos: pos, pk: pk, pkOK: pkOK, seenMs: now.UnixMilli()})
		c.nOrphans++
	}
}

// match gives a delivery of payload hash id to one of the source records
// holding that payload: one not yet delivered if any, else the one
// delivered least often (replays repeat every record), preferring one
// whose key matches the delivery's partition key, then the oldest.
func (c *checker) match(id uint64, pos destPos, pk uint64, pkOK bool) {
	best := int32(-1)
	var bestRank [3]int
	for i := c.byID[id]; i >= 0; i = c.recs[i].prevID { // newest to oldest
		r := &c.recs[i]
		rank := [3]int{0, 0, int(r.n)}
		if r.n > 0 {
			rank[0] = 1
		}
		if !pkOK || c.keys[r.key].key != pk {
			rank[1] = 1
		}
		if best < 0 || slices.Compare(rank[:], bestRank[:]) <= 0 { // ties: the older wins
			best, bestRank = i, rank
		}
	}
	if r := &c.recs[best]; r.control {
		if key := c.keys[r.key].key; !c.shards.holds(pos.shard, key) {
			// A fence copy: the relay writes each control record to every
			// destination shard; only the one on the key's own shard is
			// the record's delivery, judged for order.
			c.controlCopies++
			if !pkOK || pk != key {
				c.misrouted++
			}
			return
		}
	}
	c.deliver(best, pos, pk, pkOK)
}

func (c *checker) deliver(i int32, pos destPos, pk uint64, pkOK bool) {
	r := &c.recs[i]
	ks := &c.keys[r.key]
	if !pkOK || pk != ks.key {
		c.misrouted++
	}
	if ks.shard >= 0 && ks.shard != pos.shard && !ks.split && !c.shards.related(ks.shard, pos.shard) {
		ks.split = true
		c.splitKeys++
	}
	ks.shard = pos.shard
	if !ks.dirty {
		ks.dirty = true
		c.dirty = append(c.dirty, r.key)
	}
	if r.n == 0 {
		r.first = pos
	} else {
		c.duplicates++
		hi := r.first
		if r.n > 1 {
			hi = c.lastPos[i]
		}
		if c.less(pos, r.first) {
			r.first = pos
		}
		if c.less(hi, pos) {
			hi = pos
		}
		c.lastPos[i] = hi
	}
	if r.n < math.MaxUint16 {
		r.n++
	}
}

// less orders two positions of one key.
func (c *checker) less(a, b destPos) bool {
	if a.shard != b.shard {
		switch {
		case c.shards.ancestor(a.shard, b.shard):
			return true
		case c.shards.ancestor(b.shard, a.shard):
			return false
		}
		return a.seq.cmp(b.seq) < 0 // unrelated shards: best effort
	}
	if x := a.seq.cmp(b.seq); x != 0 {
		return x < 0
	}
	return a.ord < b.ord
}

// judge recounts the order violations of every key delivered to since the
// last judge. A delivered record violates order when a later record of
// its key (in source order) sits at a lower position: walking the key
// from its newest record back, when it lies above the lowest position seen
// so far. The first count uses first deliveries, the last count last ones.
func (c *checker) judge() {
	for _, k := range c.dirty {
		ks := &c.keys[k]
		ks.dirty = false
		var minFirst, minLast destPos
		have := false
		var fv, lv int32
		for i := ks.tail; i >= 0; i = c.recs[i].prevKey {
			r := &c.recs[i]
			if r.n == 0 {
				continue
			}
			last := r.first
			if r.n > 1 {
				last = c.lastPos[i]
			}
			if !have {
				minFirst, minLast, have = r.first, last, true
				continue
			}
			if c.less(minFirst, r.first) {
				fv++
			} else {
				minFirst = r.first
			}
			if c.less(minLast, last) {
				lv++
			} else {
				minLast = last
			}
		}
		c.firstViol += int(fv - ks.firstViol)
		c.lastViol += int(lv - ks.lastViol)
		ks.firstViol, ks.lastViol = fv, lv
	}
	c.dirty = c.dirty[:0]
}

// compactPending drops delivered records from pending and returns, over
// those left, how many there are, how many count as missing at now, and
// the oldest arrival (ms; 0 if none).
func (c *checker) compactPending(now time.Time) (lag, missing int, oldestMs int64) {
	cutoff := now.Add(-c.opt.grace).UnixMilli()
	kept := c.pending[:0]
	for _, p := range c.pending {
		if c.recs[p.idx].n > 0 {
			continue
		}
		kept = append(kept, p)
		if oldestMs == 0 || p.arrivalMs < oldestMs {
			oldestMs = p.arrivalMs
		}
		if !c.opt.follow || p.arrivalMs < cutoff {
			missing++
		}
	}
	clear(c.pending[len(kept):])
	if cap(kept) > 2*len(kept)+4096 { // let a backlog's array go
		kept = append([]pendingRec(nil), kept...)
	}
	c.pending = kept
	c.pendingKept = len(kept)
	return len(kept), missing, oldestMs
}

// expireOrphans counts as unexpected every destination record unmatched
// for longer than grace, and forgets it.
func (c *checker) expireOrphans(now time.Time) {
	cutoff := now.Add(-c.opt.grace).UnixMilli()
	for id, waiting := range c.orphans {
		kept := waiting[:0]
		for _, o := range waiting {
			if o.seenMs < cutoff {
				c.unexpected++
				c.nOrphans--
				continue
			}
			kept = append(kept, o)
		}
		if len(kept) == 0 {
			delete(c.orphans, id)
		} else {
			c.orphans[id] = kept
		}
	}
}

func (c *checker) report(now time.Time, final bool) Report {
	c.judge()
	c.expireOrphans(now)
	lag, missing, oldestMs := c.compactPending(now)
	r := Report{
		SourceRecords:       len(c.recs),
		DestRecords:         c.destRecords,
		Missing:             missing,
		Duplicates:          c.duplicates,
		Unexpected:          c.unexpected,
		OrderViolations:     c.firstViol,
		Misrouted:           c.misrouted,
		Keys:                len(c.keys),
		DestShards:          len(c.shards.list),
		DestShardRecords:    make(map[string]int, len(c.shards.list)),
		LastOrderViolations: c.lastViol,
		SplitKeys:           c.splitKeys,
		ControlCopies:       c.controlCopies,
		Pending:             lag - missing,
		LagRecords:          lag,
		UnexpectedPending:   c.nOrphans,
		Order:               c.opt.order.String(),
		Final:               final,
	}
	if lag > 0 {
		r.OldestMissingAgeMs = max(0, now.UnixMilli()-oldestMs)
	}
	for _, s := range c.shards.list {
		r.DestShardRecords[s.id] = s.records
		if s.records > 0 {
			r.ShardsUsed++
		}
	}
	r.OK = r.Missing == 0 && r.Unexpected == 0 && r.Misrouted == 0
	switch c.opt.order {
	case orderFirst:
		r.OK = r.OK && r.OrderViolations == 0
	case orderLast:
		r.OK = r.OK && r.LastOrderViolations == 0
	case orderBoth:
		r.OK = r.OK && r.OrderViolations == 0 && r.LastOrderViolations == 0
	}
	return r
}

// shardTable numbers destination shards and answers lineage questions.
type shardTable struct {
	idx  map[string]int32
	list []destShard
	anc  map[[2]int32]bool // memo of ancestor(a, b); cleared when a shard is added
}

type destShard struct {
	id       string
	parents  []string
	records  int
	next     uint32 // ord of the next record read
	hasRange bool   // lo, hi: its HashKeyRange, when listed with one
	lo, hi   u192
}

func (t *shardTable) add(sh types.Shard) int32 {
	id := aws.ToString(sh.ShardId)
	if i, ok := t.idx[id]; ok {
		return i
	}
	s := destShard{id: id}
	if r := sh.HashKeyRange; r != nil && r.StartingHashKey != nil && r.EndingHashKey != nil {
		s.hasRange, s.lo, s.hi = true, parseU192(*r.StartingHashKey), parseU192(*r.EndingHashKey)
	}
	for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
		if p != nil && *p != "" {
			s.parents = append(s.parents, *p)
		}
	}
	i := int32(len(t.list))
	t.list = append(t.list, s)
	t.idx[id] = i
	clear(t.anc) // a shard listed late can link others
	return i
}

// ancestor says whether shard a is a proper ancestor of shard b.
func (t *shardTable) ancestor(a, b int32) bool {
	if a == b {
		return false
	}
	if v, ok := t.anc[[2]int32{a, b}]; ok {
		return v
	}
	found := false
	seen := map[int32]bool{b: true}
	stack := []int32{b}
	for len(stack) > 0 && !found {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range t.list[s].parents {
			pi, ok := t.idx[p]
			if !ok || seen[pi] {
				continue
			}
			if pi == a {
				found = true
				break
			}
			seen[pi] = true
			stack = append(stack, pi)
		}
	}
	t.anc[[2]int32{a, b}] = found
	return found
}

// holds says whether shard s's hash key range holds key's place, the
// ExplicitHashKey the relay gives it (key<<64 | key). A shard listed
// without a range holds every key.
func (t *shardTable) holds(s int32, key uint64) bool {
	sh := &t.list[s]
	p := u192{0, key, key}
	return !sh.hasRange || (sh.lo.cmp(p) <= 0 && p.cmp(sh.hi) <= 0)
}

func (t *shardTable) related(a, b int32) bool {
	return a == b || t.ancestor(a, b) || t.ancestor(b, a)
}

// u192 is a decimal from the API (a sequence number, a hash key) as a
// 192-bit integer, most significant word first: exact for hash keys and
// the 56-digit sequence numbers Kinesis issues (up to 57 digits); longer
// ones saturate and tie (best effort).
type u192 [3]uint64

func parseU192(s string) u192 {
	var v u192
	for len(s) > 0 {
		// Take up to 19 digits at a time: v = v·10^n + chunk.
		n := min(len(s), 19)
		var chunk, mul uint64 = 0, 1
		for i := range n {
			d := uint64(s[i]) - '0'
			if d > 9 {
				return u192{}
			}
			chunk, mul = chunk*10+d, mul*10
		}
		s = s[n:]
		carry := chunk
		for w := 2; w >= 0; w-- {
			hi, lo := bits.Mul64(v[w], mul)
			lo, c := bits.Add64(lo, carry, 0)
			v[w], carry = lo, hi+c
		}
		if carry != 0 {
			return u192{math.MaxUint64, math.MaxUint64, math.MaxUint64}
		}
	}
	return v
}

func (a u192) cmp(b u192) int {
	for w := range a {
		if a[w] != b[w] {
			if a[w] < b[w] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// parsePartitionKey reads a PartitionKey as repartd writes them (16
// lowercase hex digits, repartition.AppendPartitionKey).
func parsePartitionKey(pk string) (uint64, bool) {
	if len(pk) != repartition.PartitionKeyLen {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(pk); i++ {
		switch c := pk[i]; {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// drawHistogram prints one bar per destination shard.
func drawHistogram(w io.Writer, counts map[string]int) {
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	fmt.Fprintln(w, "records per destination shard:")
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		n := counts[id]
		bar := 0
		if most > 0 {
			bar = n * 50 / most
		}
		fmt.Fprintf(w, "  %s %8d %s\n", id, n, strings.Repeat("█", bar))
	}
}
