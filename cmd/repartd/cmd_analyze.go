package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/bits"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/repartition"
)

// Kinesis write limits per shard (provisioned and on-demand alike) and the
// shares analyze judges them by.
const (
	shardRecordsPerS = 1000
	shardBytesPerS   = 1 << 20
	hotShare         = 0.8 // a shard above this share of a limit in its busiest second is hot
	targetShare      = 0.7 // the destination is sized for this share in the busiest second
	// maxWindowRecords bounds memory: about 40 bytes are kept per record
	// read (its key, table, size, arrival) for the per-second figures.
	maxWindowRecords = 1_000_000
	maxDestShards    = 20_000 // the search for a shard count stops here
	topKeys          = 10
	// destKeyLen is the length of every PartitionKey repartd writes:
	// Kinesis counts it with the data against the limits.
	destKeyLen = repartition.PartitionKeyLen
)

// cmdAnalyze is `repartd analyze` (README "repartd analyze"): it reads a
// window of the source, never checkpoints, and prints a report.
func cmdAnalyze(ctx context.Context, args []string, getenv func(string) string, io stdio, sig <-chan os.Signal) error {
	wcfg := kinesisio.DefaultWindowConfig()
	fs := newFlags("analyze --stream S [--duration 60s | --records N] [--dest-shards N] [--key ...] [--html FILE] [--json] [--from latest|trim-horizon]",
		"Read a window of the (hot) source stream without checkpointing and report its load per table and\n"+
			"per source shard against the 1,000 rec/s and 1 MiB/s shard limits, the DMS partitioning in use,\n"+
			"the hottest rows, the spread of the same records over N destination shards keyed by contract v1,\n"+
			"and a recommendation. --from latest (default) measures live traffic for --duration; --from\n"+
			"trim-horizon analyses retained history up to now. Keys and payloads are never printed: rows are\n"+
			"named by table and 16-hex routing key only.", io.err)
	var keys keyFlag
	stream := fs.String("stream", "", "source stream to analyse (the DMS target stream)")
	fs.Var(&keys, "key", keyUsage)
	from := fs.String("from", "latest", "latest (live traffic from now on) or trim-horizon (retained history, up to now)")
	fs.DurationVar(&wcfg.Duration, "duration", wcfg.Duration, "how long to read; with --records and no --duration, no time limit")
	records := fs.Int("records", 0, fmt.Sprintf("stop after this many records (0: no limit; at most %d)", maxWindowRecords))
	destShards := fs.Int("dest-shards", 0, "project the spread over this many destination shards (0: the number recommended)")
	roundTrip := fs.Duration("round-trip", 20*time.Millisecond, "assumed PutRecords round trip: in strict ordering a key moves one record per round trip")
	htmlFile := fs.String("html", "", "also write a self-contained HTML report (inline SVG charts) to this file")
	asJSON := fs.Bool("json", false, "print the report as one JSON object instead of the terminal report")
	fs.DurationVar(&wcfg.PollInterval, "poll-interval", wcfg.PollInterval, "least time between GetRecords calls on one shard (≥ 200ms; Kinesis allows 5/s per shard for all readers together)")
	fs.DurationVar(&wcfg.ShardRefresh, "shard-refresh", wcfg.ShardRefresh, "how often to re-list shards during the window")
	endpoint := fs.String("endpoint-url", "", "endpoint for this stream (default: the SDK chain, e.g. AWS_ENDPOINT_URL)")
	level := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr; the report to stdout)")
	format := fs.String("log-format", "console", "json (one object per line) or console (for people)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	durationSet := getenv(envName("duration")) != ""
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })

	var errs []error
	if *stream == "" {
		errs = append(errs, errors.New("stream: required"))
	}
	switch strings.ToLower(strings.ReplaceAll(*from, "_", "-")) {
	case "latest":
		wcfg.From = types.ShardIteratorTypeLatest
	case "trim-horizon":
		wcfg.From = types.ShardIteratorTypeTrimHorizon
		wcfg.UntilCaughtUp = true // history up to now
	default:
		errs = append(errs, fmt.Errorf("from %q: want latest or trim-horizon", *from))
	}
	if *records < 0 || *records > maxWindowRecords {
		errs = append(errs, fmt.Errorf("records %d: must be 0..%d (memory: about 40 bytes per record)", *records, maxWindowRecords))
	}
	if *records > 0 && !durationSet {
		wcfg.Duration = 0 // the count bounds the window
	}
	wcfg.Records = *records
	if wcfg.Records == 0 {
		wcfg.Records = maxWindowRecords
	}
	if *destShards < 0 || *destShards > maxDestShards {
		errs = append(errs, fmt.Errorf("dest-shards %d: must be 0..%d", *destShards, maxDestShards))
	}
	if *roundTrip <= 0 {
		errs = append(errs, fmt.Errorf("round-trip %s: must be > 0", *roundTrip))
	}
	if err := wcfg.Validate(); err != nil {
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
	client, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *endpoint})
	if err != nil {
		return err
	}
	log.Info().Str("version", versionString()).Str("stream", *stream).Str("from", string(wcfg.From)).
		Dur("duration", wcfg.Duration).Int("records", *records).Int("dest_shards", *destShards).
		Str("keys", keys.String()).Dur("round_trip", *roundTrip).Dur("poll_interval", wcfg.PollInterval).
		Str("html", *htmlFile).Msg("effective config")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	go func() { // ends with ctx: cancel runs when cmdAnalyze returns
		select {
		case s := <-sig:
			log.Info().Str("signal", s.String()).Msg("ending the window now; send again to quit without a report")
			close(stop)
		case <-ctx.Done():
			return
		}
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()
	a := newAnalyzer(rules)
	win, err := kinesisio.ReadWindow(ctx, client, *stream, wcfg, stop, log.With().Str("component", "window").Logger(), a.add)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &exitError{code: 130, err: errors.New("stopped before the window was read")}
		}
		return err
	}
	if win.Ended == kinesisio.WindowStopped {
		win.Ended = "signal"
	}
	if win.Ended == kinesisio.WindowRecords && *records == 0 {
		win.Ended = "memory bound"
	}
	log.Info().Str("ended", string(win.Ended)).Int("records", win.Records).Int("get_calls", win.Calls).Msg("window read")
	rep := a.report(windowInfo(*stream, wcfg.From, win), analyzeOptions{destShards: *destShards, roundTrip: *roundTrip})
	if *htmlFile != "" {
		if err := writeHTMLReport(*htmlFile, rep); err != nil {
			return err
		}
	}
	if *asJSON {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	writeTextReport(io.out, rep)
	return nil
}

// --- the analysis: pure, no I/O ---

// windowMeta is what the analysis needs to know of the window read.
type windowMeta struct {
	stream     string
	from       types.ShardIteratorType
	start, end time.Time
	ended      string
	// cutoffMs: records that arrived after it are left out (0: none). A
	// TRIM_HORIZON window cut by a bound reads shards in parallel, each
	// up to a different time; the analysis stops at the earliest of them
	// so every shard is judged over the same span.
	cutoffMs int64
	shards   []kinesisio.WindowShard
}

func windowInfo(stream string, from types.ShardIteratorType, w kinesisio.Window) windowMeta {
	m := windowMeta{stream: stream, from: from, start: w.Start, end: w.End, ended: string(w.Ended), shards: w.Shards}
	if from != types.ShardIteratorTypeTrimHorizon || w.Ended == kinesisio.WindowCaughtUp {
		return m
	}
	for _, s := range w.Shards {
		if s.State != kinesisio.ShardReading || s.Records == 0 || s.LastArrival.IsZero() {
			continue
		}
		if ms := s.LastArrival.UnixMilli(); m.cutoffMs == 0 || ms < m.cutoffMs {
			m.cutoffMs = ms
		}
	}
	return m
}

// analyzeOptions are the report's knobs.
type analyzeOptions struct {
	destShards int           // 0: the recommended count
	roundTrip  time.Duration // PutRecords round trip assumed for per-key limits
}

// sample is one record read, as the analysis keeps it: about 40 bytes.
type sample struct {
	ms    int64 // ApproximateArrivalTimestamp, Unix ms
	key   int32 // index in analyzer.keys; -1 for control records (copied to every destination shard)
	table int32 // index in analyzer.tables; -1 for invalid records
	shard int32 // index in analyzer.shards
	srcPK int32 // index of the source partition key (interned by hash)
	size  int32 // data bytes
	op    uint16
	pkLen uint16 // source partition key bytes
	kind  repartition.Kind
	pkt   uint8 // index in analyzer.pkTypes; 0: none
	src   repartition.KeySource
	pkChg bool
}

type keyInfo struct {
	key   uint64
	table int32
	src   repartition.KeySource
}

type tableName struct{ schema, table string }

// analyzer routes each record as the relay would (same Router, same key
// rules, keys learned from create-table records in lineage order) and
// keeps a sample of it. report aggregates the samples.
type analyzer struct {
	router *repartition.Router
	d      repartition.Decision

	samples  []sample
	keys     []keyInfo
	keyIdx   map[uint64]int32
	tables   []tableName
	tableIdx map[string]int32 // len(schema) ':' schema table
	shards   []string
	shardIdx map[string]int32
	srcPKs   map[uint64]int32 // XXH64 of a source partition key -> index: never the key itself
	ops      []string
	opIdx    map[string]uint16
	pkTypes  []string // [0] is "" (none)
	pktIdx   map[string]uint8
	reasons  map[string]int
	name     []byte
}

func newAnalyzer(rules *repartition.KeyRules) *analyzer {
	return &analyzer{
		router:   repartition.NewRouter(rules, repartition.Learned{}),
		keyIdx:   map[uint64]int32{},
		tableIdx: map[string]int32{},
		shardIdx: map[string]int32{},
		srcPKs:   map[uint64]int32{},
		opIdx:    map[string]uint16{},
		pkTypes:  []string{""},
		pktIdx:   map[string]uint8{"": 0},
		reasons:  map[string]int{},
	}
}

// add is ReadWindow's callback: batches come parent shards first.
func (a *analyzer) add(b kinesisio.ShardBatch) error {
	id := aws.ToString(b.Shard.ShardId)
	sh, ok := a.shardIdx[id]
	if !ok {
		sh = int32(len(a.shards))
		a.shardIdx[id] = sh
		a.shards = append(a.shards, id)
	}
	now := time.Now().UnixMilli()
	for i := range b.Records {
		a.addRecord(sh, &b.Records[i], now)
	}
	return nil
}

func (a *analyzer) addRecord(sh int32, r *types.Record, now int64) {
	s := sample{ms: now, shard: sh, size: int32(min(len(r.Data), math.MaxInt32)), key: -1, table: -1}
	if r.ApproximateArrivalTimestamp != nil {
		s.ms = r.ApproximateArrivalTimestamp.UnixMilli()
	}
	pk := aws.ToString(r.PartitionKey)
	s.pkLen = uint16(min(len(pk), math.MaxUint16))
	h := repartition.Hash([]byte(pk))
	pi, ok := a.srcPKs[h]
	if !ok {
		pi = int32(len(a.srcPKs))
		a.srcPKs[h] = pi
	}
	s.srcPK = pi
	d := &a.d
	a.router.Route(r.Data, d)
	s.kind, s.src, s.pkChg = d.Kind, d.KeySource, d.PKChanged
	switch d.Kind {
	case repartition.KindInvalid:
		// Forwarded (run --on-invalid forward) under the hash of its
		// source partition key.
		s.key = a.keyOf(h, -1, repartition.SourceNone)
		a.reasons[d.Reason]++ // reasons name what is wrong, never content
	case repartition.KindControl:
		s.table = a.tableOf(d.Schema, d.Table)
	case repartition.KindData:
		s.table = a.tableOf(d.Schema, d.Table)
		s.key = a.keyOf(d.Key, s.table, d.KeySource)
	}
	if d.Kind != repartition.KindInvalid {
		s.op = a.intern(safeName(d.Operation))
		if len(d.PartitionKeyType) > 0 {
			s.pkt = a.pkType(safeName(d.PartitionKeyType))
		}
	}
	a.samples = append(a.samples, s)
}

func (a *analyzer) keyOf(key uint64, table int32, src repartition.KeySource) int32 {
	i, ok := a.keyIdx[key]
	if !ok {
		i = int32(len(a.keys))
		a.keyIdx[key] = i
		a.keys = append(a.keys, keyInfo{key: key, table: table, src: src})
	}
	return i
}

func (a *analyzer) tableOf(schema, table []byte) int32 {
	// The schema's length, then both names: unambiguous whatever bytes
	// the names hold.
	a.name = append(strconv.AppendInt(a.name[:0], int64(len(schema)), 10), ':')
	a.name = append(append(a.name, schema...), table...)
	if i, ok := a.tableIdx[string(a.name)]; ok {
		return i
	}
	i := int32(len(a.tables))
	a.tableIdx[string(a.name)] = i
	a.tables = append(a.tables, tableName{string(schema), string(table)})
	return i
}

func (a *analyzer) intern(op string) uint16 {
	if i, ok := a.opIdx[op]; ok {
		return i
	}
	if len(a.ops) >= math.MaxUint16 {
		return a.intern("(other)")
	}
	i := uint16(len(a.ops))
	a.opIdx[op] = i
	a.ops = append(a.ops, op)
	return i
}

func (a *analyzer) pkType(t string) uint8 {
	if i, ok := a.pktIdx[t]; ok {
		return i
	}
	if len(a.pkTypes) >= math.MaxUint8 {
		return a.pkType("(other)")
	}
	i := uint8(len(a.pkTypes))
	a.pktIdx[t] = i
	a.pkTypes = append(a.pkTypes, t)
	return i
}

// safeName passes metadata enumerations (operation, partition-key-type)
// through when they look like one: up to 40 letters, digits, '-', '_'
// or '.'. Anything else might be content and is reported as "(other)".
func safeName(b []byte) string {
	if len(b) == 0 {
		return "(none)"
	}
	if len(b) > 40 {
		return "(other)"
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "(other)"
		}
	}
	return string(b)
}

// keyHex is a routing key as repartd's PartitionKey: 16 lowercase hex
// digits. It identifies a row without revealing its values.
func keyHex(k uint64) string { return string(repartition.AppendPartitionKey(nil, k)) }

// evenShards places hash keys on n shards that split the 128-bit hash key
// space evenly, as CreateStream does: shard i starts at floor(i·2^128/n).
type evenShards struct {
	n      int
	hi, lo []uint64 // starting hash key of each shard
}

func newEvenShards(n int) evenShards {
	e := evenShards{n: n, hi: make([]uint64, n), lo: make([]uint64, n)}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	mask := new(big.Int).SetUint64(math.MaxUint64)
	for i := range n {
		s := new(big.Int).Mul(space, big.NewInt(int64(i)))
		s.Div(s, big.NewInt(int64(n)))
		e.lo[i] = new(big.Int).And(s, mask).Uint64()
		e.hi[i] = s.Rsh(s, 64).Uint64()
	}
	return e
}

// of returns the shard of the record keyed k, whose ExplicitHashKey is
// h = k<<64 | k (contract v1).
func (e evenShards) of(k uint64) int {
	// h·n = (k·n)·2^64 + k·n; with k·n = a1·2^64 + a0 its top part,
	// floor(h·n / 2^128), is a1 plus the carry of a0 + a1. Then step to
	// the exact boundary.
	a1, a0 := bits.Mul64(k, uint64(e.n))
	_, c := bits.Add64(a0, a1, 0)
	i := min(int(a1+c), e.n-1)
	for i+1 < e.n && !e.startsAbove(i+1, k) {
		i++
	}
	for i > 0 && e.startsAbove(i, k) {
		i--
	}
	return i
}

// startsAbove says whether shard i starts above hash key k<<64 | k.
func (e evenShards) startsAbove(i int, k uint64) bool {
	return e.hi[i] > k || e.hi[i] == k && e.lo[i] > k
}

// sweep computes, for groups of records, the busiest second: the most
// records and bytes that arrived in one calendar second, per group.
// samples must be sorted by arrival. group returns -1 to skip a record and
// -2 to count it in every group (a control record's copies): those are
// counted once per second, not once per group, so a sweep costs
// O(records + groups) whatever the number of control records.
type sweep struct {
	peakRecs  []int
	peakBytes []int64
	recs      []int
	bytes     []int64
	touched   []int32
	// Records counted in every group this second, and the most of them
	// in any second (the load of a group that got nothing else).
	allRecs, maxAllRecs   int
	allBytes, maxAllBytes int64
}

func newSweep(n int) *sweep {
	return &sweep{peakRecs: make([]int, n), peakBytes: make([]int64, n), recs: make([]int, n), bytes: make([]int64, n)}
}

func (w *sweep) run(samples []sample, group func(*sample) int32, size func(*sample) int64) {
	sec := int64(math.MinInt64)
	for i := range samples {
		s := &samples[i]
		if t := floorDiv(s.ms, 1000); t != sec {
			w.fold()
			sec = t
		}
		switch g := group(s); g {
		case -1:
		case -2:
			w.allRecs++
			w.allBytes += size(s)
		default:
			if w.recs[g] == 0 {
				w.touched = append(w.touched, g)
			}
			w.recs[g]++
			w.bytes[g] += size(s)
		}
	}
	w.fold()
	for g := range w.peakRecs {
		w.peakRecs[g] = max(w.peakRecs[g], w.maxAllRecs)
		w.peakBytes[g] = max(w.peakBytes[g], w.maxAllBytes)
	}
}

// fold closes a second.
func (w *sweep) fold() {
	for _, g := range w.touched {
		w.peakRecs[g] = max(w.peakRecs[g], w.recs[g]+w.allRecs)
		w.peakBytes[g] = max(w.peakBytes[g], w.bytes[g]+w.allBytes)
		w.recs[g], w.bytes[g] = 0, 0
	}
	w.touched = w.touched[:0]
	w.maxAllRecs, w.maxAllBytes = max(w.maxAllRecs, w.allRecs), max(w.maxAllBytes, w.allBytes)
	w.allRecs, w.allBytes = 0, 0
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func srcSize(s *sample) int64  { return int64(s.size) + int64(s.pkLen) }
func destSize(s *sample) int64 { return int64(s.size) + destKeyLen }

// share is the larger of a load's shares of the two per-shard limits.
func share(recsPerS, bytesPerS float64) float64 {
	return max(recsPerS/shardRecordsPerS, bytesPerS/shardBytesPerS)
}

// report aggregates the samples into the report.
func (a *analyzer) report(w windowMeta, opt analyzeOptions) analysisReport {
	all := a.samples
	in := all
	if w.cutoffMs != 0 {
		in = make([]sample, 0, len(all))
		for _, s := range all {
			if s.ms <= w.cutoffMs {
				in = append(in, s)
			}
		}
	}
	slices.SortStableFunc(in, func(x, y sample) int { return cmp.Compare(x.ms, y.ms) })
	rt := opt.roundTrip
	if rt <= 0 {
		rt = 20 * time.Millisecond
	}
	r := analysisReport{
		Stream: w.stream, From: fromName(w.from), WindowStart: w.start, WindowEnd: w.end, Ended: w.ended,
		RecordsRead: len(all), Records: len(in), BeyondCutoff: len(all) - len(in),
		Limits: limitsReport{
			ShardRecordsPerS: shardRecordsPerS, ShardBytesPerS: shardBytesPerS,
			HotShare: hotShare, TargetShare: targetShare, RoundTripMs: float64(rt) / float64(time.Millisecond),
			StrictKeyMaxPerS: float64(time.Second) / float64(rt),
			ReplayKeyMaxPerS: min(float64(kinesisio.MaxPutEntries)*float64(time.Second)/float64(rt), shardRecordsPerS),
		},
		InvalidReasons: map[string]int{},
	}
	// The window's length: wall clock for live traffic (LATEST: records
	// arrived while it was read), else the calendar seconds the arrivals
	// span, the unit of the busiest-second figures, so that no mean
	// exceeds its busiest second.
	if len(in) > 0 {
		r.FirstArrival, r.LastArrival = time.UnixMilli(in[0].ms).UTC(), time.UnixMilli(in[len(in)-1].ms).UTC()
	}
	switch {
	case w.from == types.ShardIteratorTypeLatest && !w.start.IsZero() && w.end.After(w.start):
		r.WindowS = w.end.Sub(w.start).Seconds()
	case len(in) > 0:
		r.WindowS = float64(floorDiv(in[len(in)-1].ms, 1000) - floorDiv(in[0].ms, 1000) + 1)
	}
	r.WindowS = max(r.WindowS, 1)
	perS := func(n float64) float64 { return n / r.WindowS }

	// Totals, tables, keys, source shards and partition keys in one pass.
	type tableAgg struct {
		records, control, pkChanges int
		bytes                       int64
		ops                         map[string]int
		src                         [4]int
		keys                        int
		srcPK                       int32
		srcPKVaries                 bool
	}
	tables := make([]tableAgg, len(a.tables))
	for i := range tables {
		tables[i].ops = map[string]int{}
		tables[i].srcPK = -1
	}
	keyRecs := make([]int, len(a.keys))
	keyBytes := make([]int64, len(a.keys))
	shardRecs := make([]int, len(a.shards))
	shardBytes := make([]int64, len(a.shards))
	srcPKRecs := map[int32]int{}
	pkTypes := map[string]int{}
	var bytes, destBytes int64
	for i := range in {
		s := &in[i]
		bytes += srcSize(s)
		destBytes += destSize(s)
		shardRecs[s.shard]++
		shardBytes[s.shard] += srcSize(s)
		srcPKRecs[s.srcPK]++
		if s.pkt != 0 {
			pkTypes[a.pkTypes[s.pkt]]++
		}
		if int64(s.size)+destKeyLen > kinesisio.DefaultMaxRecord {
			r.OversizeForDest++
		}
		switch s.kind {
		case repartition.KindInvalid:
			r.InvalidRecords++
		case repartition.KindControl:
			r.ControlRecords++
		case repartition.KindData:
			r.DataRecords++
		}
		if s.key >= 0 {
			if keyRecs[s.key] == 0 && s.table >= 0 {
				tables[s.table].keys++
			}
			keyRecs[s.key]++
			keyBytes[s.key] += destSize(s)
		}
		if s.table < 0 {
			continue
		}
		t := &tables[s.table]
		t.bytes += srcSize(s)
		t.ops[a.ops[s.op]]++
		if s.kind == repartition.KindControl {
			t.control++
		} else {
			t.records++
			t.src[s.src]++
		}
		if s.pkChg {
			t.pkChanges++
			r.PKChanges++
		}
		if t.srcPK == -1 {
			t.srcPK = s.srcPK
		} else if t.srcPK != s.srcPK {
			t.srcPKVaries = true
		}
	}
	// Reasons are counted over every record read; the cut-off rarely
	// leaves out an invalid one, and reasons are only a hint.
	if r.InvalidRecords > 0 {
		for k, v := range a.reasons {
			r.InvalidReasons[k] = v
		}
	}
	r.RecordsPerS, r.BytesPerS = perS(float64(len(in))), perS(float64(bytes))

	whole := newSweep(1)
	whole.run(in, func(*sample) int32 { return 0 }, srcSize)
	r.PeakRecordsPerS, r.PeakBytesPerS = float64(whole.peakRecs[0]), float64(whole.peakBytes[0])

	// Source shards, every one listed (lineage order), with their load.
	srcSweep := newSweep(len(a.shards))
	srcSweep.run(in, func(s *sample) int32 { return s.shard }, srcSize)
	listed := map[string]bool{}
	addShard := func(id, state string, open bool) {
		sl := shardLoad{ShardID: id, State: state, Open: open}
		if i, ok := a.shardIdx[id]; ok {
			sl.load = makeLoad(shardRecs[i], shardBytes[i], srcSweep.peakRecs[i], srcSweep.peakBytes[i], r.WindowS)
		}
		sl.Hot = sl.PeakShare > hotShare
		if sl.Hot {
			r.HotSourceShards = append(r.HotSourceShards, id)
		}
		r.SourceShards = append(r.SourceShards, sl)
	}
	for _, ws := range w.shards {
		id := aws.ToString(ws.Shard.ShardId)
		listed[id] = true
		addShard(id, string(ws.State), ws.Shard.SequenceNumberRange == nil || ws.Shard.SequenceNumberRange.EndingSequenceNumber == nil)
	}
	for _, id := range a.shards {
		if !listed[id] {
			addShard(id, "", true)
		}
	}

	// DMS partitioning.
	p := &r.Partitioning
	p.KeyTypes = pkTypes
	p.SourceKeys = len(srcPKRecs)
	top := 0
	for _, n := range srcPKRecs {
		top = max(top, n)
	}
	if len(in) > 0 {
		p.TopSourceKeyShare = float64(top) / float64(len(in))
	}
	perTable, anyTable := true, false
	for i := range tables {
		if tables[i].records+tables[i].control > 0 {
			anyTable = true
			perTable = perTable && !tables[i].srcPKVaries
		}
	}
	switch {
	case len(in) == 0:
		p.Scheme = "none"
	case p.SourceKeys == 1:
		p.Scheme = "one key"
		p.Meaning = "one partition key for every record (a task-level or constant key): DMS writes everything to one shard"
	case anyTable && perTable:
		p.Scheme = "per table"
		p.Meaning = "one partition key per table (DMS's default schema-table key): each table is one shard"
	default:
		p.Scheme = "varies within tables"
		p.Meaning = "partition keys vary within tables (per row or per transaction): rows may already spread over the source's shards"
	}
	switch {
	case pkTypes["transaction-id"] > 0:
		p.Advice = "partition-key-type transaction-id spreads one row's changes over source shards: their order across shards cannot be restored; key DMS by schema-table or primary-key"
	case pkTypes["primary-key"] > 0 && pkTypes["primary-key"] == r.DataRecords:
		p.Advice = "DMS already keys this stream by primary key: repartd is not needed to spread it (it still works)"
	}

	// Tables, busiest first.
	learned := map[tableName][]string{}
	for _, tk := range a.router.Learned().Tables() {
		learned[tableName{tk.Schema, tk.Table}] = tk.Columns
	}
	for i, t := range tables {
		if t.records+t.control == 0 {
			continue
		}
		tr := tableReport{Schema: a.tables[i].schema, Table: a.tables[i].table, Records: t.records, ControlRecords: t.control,
			RecordsPerS: perS(float64(t.records + t.control)), BytesPerS: perS(float64(t.bytes)), Operations: t.ops,
			Keys: t.keys, PKChanges: t.pkChanges}
		if len(in) > 0 {
			tr.Share = float64(t.records+t.control) / float64(len(in))
		}
		tr.KeySource = keySourceOf(t.src)
		tr.KeyColumns = learned[a.tables[i]]
		tr.Fallback = t.src[repartition.SourceTable] > 0
		r.Tables = append(r.Tables, tr)
		if tr.Fallback {
			r.Recommendation.FallbackTables = append(r.Recommendation.FallbackTables, fallbackTable{
				Schema: tr.Schema, Table: tr.Table, Records: t.src[repartition.SourceTable],
				RecordsPerS: perS(float64(t.src[repartition.SourceTable])),
			})
		}
	}
	slices.SortStableFunc(r.Tables, func(x, y tableReport) int { return cmp.Compare(y.Records+y.ControlRecords, x.Records+x.ControlRecords) })
	if r.InvalidRecords > 0 {
		r.Tables = append(r.Tables, tableReport{Schema: "", Table: "(invalid)", Records: r.InvalidRecords,
			Share: float64(r.InvalidRecords) / float64(len(in)), RecordsPerS: perS(float64(r.InvalidRecords)),
			KeySource: "source-key", Operations: map[string]int{}, Keys: countInvalidKeys(a.keys, keyRecs)})
	}

	// Keys, busiest first (ties: by key, so the report is reproducible),
	// with every key's busiest second from one sweep.
	var order []int32
	for i, n := range keyRecs {
		if n > 0 {
			order = append(order, int32(i))
		}
	}
	r.Keys = len(order)
	slices.SortStableFunc(order, func(x, y int32) int {
		if c := cmp.Compare(keyRecs[y], keyRecs[x]); c != 0 {
			return c
		}
		return cmp.Compare(a.keys[x].key, a.keys[y].key)
	})
	keySweep := newSweep(len(a.keys))
	keySweep.run(in, func(s *sample) int32 { return s.key }, destSize)
	strictCap := r.Limits.StrictKeyMaxPerS
	exempt := make([]bool, len(a.keys)) // keys that alone pass the sizing target
	for _, k := range order {
		pr, pb := float64(keySweep.peakRecs[k]), float64(keySweep.peakBytes[k])
		if pr > strictCap {
			r.Recommendation.KeysOverStrictCap++
		}
		if perS(float64(keyRecs[k])) > strictCap {
			r.Recommendation.KeysOverStrictCapMean++
		}
		if share(pr, pb) > 1 {
			r.Recommendation.KeysOverShardLimit++
		}
		if share(pr, pb) > targetShare {
			exempt[k] = true
		}
	}

	// Projection: the recommended count, and the spread over the count
	// asked for (or the recommended one).
	keyList := make([]uint64, len(a.keys))
	for i, k := range a.keys {
		keyList[i] = k.key
	}
	proj := projector{samples: in, keys: keyList, exempt: exempt, windowS: r.WindowS}
	dest := newSweep(1)
	dest.run(in, func(*sample) int32 { return 0 }, destSize)
	n0 := max(1, int(math.Ceil(float64(dest.peakRecs[0])/(targetShare*shardRecordsPerS))),
		int(math.Ceil(float64(dest.peakBytes[0])/(targetShare*shardBytesPerS))))
	rec := &r.Recommendation
	rec.DestShards, rec.DestShardsFit = proj.search(min(n0, maxDestShards))
	n, basis := rec.DestShards, "recommended"
	if opt.destShards > 0 {
		n, basis = opt.destShards, "--dest-shards"
	}
	r.Projection = proj.project(n)
	r.Projection.Basis = basis
	rec.OnDemandFits = r.PeakRecordsPerS <= 4*shardRecordsPerS && float64(dest.peakBytes[0]) <= 4*shardBytesPerS

	place := newEvenShards(n)
	for rank, k := range order[:min(topKeys, len(order))] {
		ki := a.keys[k]
		hk := hotKey{Rank: rank + 1, Key: keyHex(ki.key), KeySource: keySourceName(ki.src), Records: keyRecs[k],
			Share: float64(keyRecs[k]) / float64(len(in)), RecordsPerS: perS(float64(keyRecs[k])),
			PeakRecordsPerS: float64(keySweep.peakRecs[k]), BytesPerS: perS(float64(keyBytes[k])),
			PeakBytesPerS: float64(keySweep.peakBytes[k]), DestShard: place.of(ki.key)}
		if ki.table >= 0 {
			hk.Schema, hk.Table = a.tables[ki.table].schema, a.tables[ki.table].table
		} else {
			hk.Table = "(invalid)"
		}
		hk.OverStrictCap = hk.RecordsPerS > strictCap
		hk.BurstsOverStrictCap = hk.PeakRecordsPerS > strictCap
		r.HotKeys = append(r.HotKeys, hk)
	}
	r.Notes = notes(&r, w)
	rec.Actions = actions(&r)
	return r
}

func countInvalidKeys(keys []keyInfo, recs []int) int {
	n := 0
	for i, k := range keys {
		if k.table < 0 && recs[i] > 0 {
			n++
		}
	}
	return n
}

func makeLoad(recs int, bytes int64, peakRecs int, peakBytes int64, windowS float64) load {
	l := load{Records: recs, RecordsPerS: float64(recs) / windowS, BytesPerS: float64(bytes) / windowS,
		PeakRecordsPerS: float64(peakRecs), PeakBytesPerS: float64(peakBytes)}
	l.PeakShare = share(l.PeakRecordsPerS, l.PeakBytesPerS)
	return l
}

// projector spreads the window's records over n even destination shards
// by contract v1 and sizes the destination.
type projector struct {
	samples []sample // sorted by arrival
	keys    []uint64
	exempt  []bool // keys that alone pass the target share: their shard cannot meet it
	windowS float64
}

// project computes every destination shard's load over n shards. Control
// records count once on every shard: the relay writes a copy to each.
func (p *projector) project(n int) projection {
	place := newEvenShards(n)
	shardOf := make([]int32, len(p.keys))
	for i, k := range p.keys {
		shardOf[i] = int32(place.of(k))
	}
	recs := make([]int, n)
	bytes := make([]int64, n)
	control, controlBytes := 0, int64(0)
	for i := range p.samples {
		s := &p.samples[i]
		if s.key < 0 {
			control++
			controlBytes += destSize(s)
			continue
		}
		recs[shardOf[s.key]]++
		bytes[shardOf[s.key]] += destSize(s)
	}
	for i := range recs {
		recs[i] += control
		bytes[i] += controlBytes
	}
	sw := newSweep(n)
	sw.run(p.samples, func(s *sample) int32 {
		if s.key < 0 {
			return -2
		}
		return shardOf[s.key]
	}, destSize)
	pr := projection{Shards: n, ControlCopies: control * max(n-1, 0)}
	total, most := 0, 0
	for i := range n {
		l := makeLoad(recs[i], bytes[i], sw.peakRecs[i], sw.peakBytes[i], p.windowS)
		pr.PerShard = append(pr.PerShard, destShardLoad{Shard: i, load: l})
		total += recs[i]
		most = max(most, recs[i])
		pr.PeakRecordsPerS = max(pr.PeakRecordsPerS, l.PeakRecordsPerS)
		pr.PeakBytesPerS = max(pr.PeakBytesPerS, l.PeakBytesPerS)
		if l.PeakShare > hotShare {
			pr.HotShards++
		}
		if recs[i] > 0 {
			pr.ShardsUsed++
		}
	}
	if total > 0 {
		pr.MaxMeanRatio = float64(most) / (float64(total) / float64(n))
	}
	pr.PeakShare = share(pr.PeakRecordsPerS, pr.PeakBytesPerS)
	return pr
}

// fits says whether every destination shard of n stays within the target
// share of both limits in its busiest second, apart from shards holding a
// key that alone passes it (no shard count helps those).
func (p *projector) fits(n int) bool {
	place := newEvenShards(n)
	shardOf := make([]int32, len(p.keys))
	excused := make([]bool, n)
	for i, k := range p.keys {
		shardOf[i] = int32(place.of(k))
		if p.exempt[i] {
			excused[shardOf[i]] = true
		}
	}
	sw := newSweep(n)
	sw.run(p.samples, func(s *sample) int32 {
		if s.key < 0 {
			return -2
		}
		return shardOf[s.key]
	}, destSize)
	for i := range n {
		if !excused[i] && share(float64(sw.peakRecs[i]), float64(sw.peakBytes[i])) > targetShare {
			return false
		}
	}
	return true
}

// search returns the fewest shards, from n0 up, that fit; fit is false if
// none up to maxDestShards does (then it returns the last tried).
func (p *projector) search(n0 int) (n int, fit bool) {
	n = max(1, n0)
	for tries := 0; n <= maxDestShards; tries++ {
		if p.fits(n) {
			return n, true
		}
		if tries < 64 {
			n++
		} else {
			n = max(n+1, n*21/20)
		}
	}
	return maxDestShards, false
}

func keySourceOf(c [4]int) string {
	var names []string
	for _, s := range []repartition.KeySource{repartition.SourceColumns, repartition.SourceControl, repartition.SourceTable} {
		if c[s] > 0 {
			names = append(names, keySourceName(s))
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return "mixed (" + strings.Join(names, ", ") + ")"
}

func keySourceName(s repartition.KeySource) string {
	switch s {
	case repartition.SourceColumns:
		return "columns"
	case repartition.SourceControl:
		return "learned"
	case repartition.SourceTable:
		return "table"
	}
	return "source-key"
}

func fromName(t types.ShardIteratorType) string {
	if t == types.ShardIteratorTypeTrimHorizon {
		return "trim-horizon"
	}
	return "latest"
}

// notes are caveats about the window itself.
func notes(r *analysisReport, w windowMeta) []string {
	var out []string
	if r.Records == 0 {
		out = append(out, "no records in the window: is DMS writing to this stream? Try a longer --duration, or --from trim-horizon for retained history")
	}
	if r.BeyondCutoff > 0 {
		out = append(out, fmt.Sprintf("%s records read past %s were left out: shards read in parallel reached different times, and every shard is judged over the same span",
			fmtInt(r.BeyondCutoff), time.UnixMilli(w.cutoffMs).UTC().Format(time.RFC3339)))
	}
	if w.ended == "memory bound" {
		out = append(out, fmt.Sprintf("the window stopped at %s records (the memory bound); use --records or a shorter --duration", fmtInt(maxWindowRecords)))
	}
	if w.from == types.ShardIteratorTypeLatest && len(r.Recommendation.FallbackTables) > 0 {
		out = append(out, "with --from latest, key columns DMS announced in create-table records before the window are not known here (run learns them from the stream's start): tables may show the table-level key that run would not use; pass --key, or --from trim-horizon if the create-table records are still retained")
	}
	if r.OversizeForDest > 0 {
		out = append(out, fmt.Sprintf("%s records exceed 1 MiB with repartd's 16-character partition key: run sends them to --dlq-stream, or stops their shard without one; raise the destination's MaxRecordSizeInKiB", fmtInt(r.OversizeForDest)))
	}
	if r.Keys > 0 && r.Keys < r.Projection.Shards {
		out = append(out, fmt.Sprintf("only %s distinct keys in the window: at most %s of the %s destination shards carry rows", fmtInt(r.Keys), fmtInt(r.Keys), fmtInt(r.Projection.Shards)))
	}
	return out
}

// actions are the recommendation in words, most important first.
func actions(r *analysisReport) []string {
	if r.Records == 0 {
		return nil
	}
	rec := &r.Recommendation
	lim := &r.Limits
	var out []string
	if len(r.HotSourceShards) > 0 {
		hs := r.SourceShards[0]
		for _, s := range r.SourceShards {
			if s.PeakShare > hs.PeakShare {
				hs = s
			}
		}
		out = append(out, fmt.Sprintf("Hot source shard: %s reaches %s of a shard's write limit in its busiest second (%s rec/s, %s): this is the bottleneck repartd removes.",
			hs.ShardID, pct(hs.PeakShare), fmtRate(hs.PeakRecordsPerS), fmtBytesRate(hs.PeakBytesPerS)))
	} else {
		out = append(out, fmt.Sprintf("No source shard passed %s of a write limit in its busiest second: the source is not throttling yet; repartd still gives consumers one shard's worth of parallelism per destination shard.", pct(hotShare)))
	}
	if rec.DestShardsFit {
		s := fmt.Sprintf("Destination: %s shards keep every shard's busiest second within %s of the limits", fmtInt(rec.DestShards), pct(targetShare))
		if rec.OnDemandFits {
			s += "; on-demand also fits (a new on-demand stream takes 4,000 rec/s and 4 MiB/s, then adapts up to twice its peak)"
		} else {
			s += "; on-demand adapts to up to twice its previous peak, but a new on-demand stream starts at 4,000 rec/s and 4 MiB/s, below this load: pre-size it or start provisioned"
		}
		out = append(out, s+".")
	} else {
		out = append(out, fmt.Sprintf("Destination: no shard count up to %s keeps every shard within %s of the limits.", fmtInt(maxDestShards), pct(targetShare)))
	}
	if rec.KeysOverShardLimit > 0 {
		out = append(out, fmt.Sprintf("Keys alone past one shard's write limit in their busiest second: %s. No shard count helps them: their rows lag whatever the destination.", fmtInt(rec.KeysOverShardLimit)))
	}
	if len(r.HotKeys) > 0 {
		h := r.HotKeys[0]
		verdict := "below the cap: strict ordering keeps up"
		switch {
		case h.OverStrictCap:
			verdict = "ABOVE the cap on average: its lag grows for as long as this load lasts"
		case h.BurstsOverStrictCap:
			verdict = "below the cap on average, above it in bursts: its rows queue briefly"
		}
		s := fmt.Sprintf("Hottest row %s.%s key %s offers %s rec/s (busiest second %s); strict ordering moves one record per key per PutRecords round trip: %s rec/s at %s ms. It is %s.",
			h.Schema, h.Table, h.Key, fmtRate(h.RecordsPerS), fmtRate(h.PeakRecordsPerS), fmtRate(lim.StrictKeyMaxPerS), fmtRate(lim.RoundTripMs), verdict)
		if rec.KeysOverStrictCap > 0 {
			s += fmt.Sprintf(" Keys over %[2]s rec/s: %[1]s in their busiest second, %[3]s on average. --ordering replay moves up to %[4]s rec/s per key (a call's worth per round trip, one shard's limit at most), at the cost of duplicates after failures.",
				fmtInt(rec.KeysOverStrictCap), fmtRate(lim.StrictKeyMaxPerS), fmtInt(rec.KeysOverStrictCapMean), fmtRate(lim.ReplayKeyMaxPerS))
		}
		out = append(out, s)
	}
	if len(rec.FallbackTables) > 0 {
		var names []string
		for _, t := range rec.FallbackTables {
			names = append(names, fmt.Sprintf("%s.%s (%s rec/s)", t.Schema, t.Table, fmtRate(t.RecordsPerS)))
		}
		out = append(out, fmt.Sprintf("No key columns known for %s: each of these tables is one key, so one destination shard and one record per round trip. Set --key 'SCHEMA.TABLE=COL[,COL...]' (its primary key columns) or enable DMS IncludeControlDetails so create-table records name them.",
			strings.Join(names, ", ")))
	} else {
		out = append(out, "Every table is keyed by row (no table-level fallback).")
	}
	if r.Partitioning.Advice != "" {
		out = append(out, r.Partitioning.Advice+".")
	}
	return out
}

// --- the report model (JSON field names are stable; only ever added) ---

type analysisReport struct {
	Stream          string         `json:"stream"`
	From            string         `json:"from"`
	WindowStart     time.Time      `json:"window_start"`
	WindowEnd       time.Time      `json:"window_end"`
	FirstArrival    time.Time      `json:"first_arrival"`
	LastArrival     time.Time      `json:"last_arrival"`
	WindowS         float64        `json:"window_s"`
	Ended           string         `json:"ended"`
	RecordsRead     int            `json:"records_read"`
	Records         int            `json:"records"`
	BeyondCutoff    int            `json:"beyond_cutoff"`
	DataRecords     int            `json:"data_records"`
	ControlRecords  int            `json:"control_records"`
	InvalidRecords  int            `json:"invalid_records"`
	InvalidReasons  map[string]int `json:"invalid_reasons"`
	PKChanges       int            `json:"pk_changes"`
	OversizeForDest int            `json:"oversize_for_dest"`
	RecordsPerS     float64        `json:"records_per_s"`
	BytesPerS       float64        `json:"bytes_per_s"`
	PeakRecordsPerS float64        `json:"peak_records_per_s"`
	PeakBytesPerS   float64        `json:"peak_bytes_per_s"`
	Limits          limitsReport   `json:"limits"`
	SourceShards    []shardLoad    `json:"source_shards"`
	HotSourceShards []string       `json:"hot_source_shards"`
	Partitioning    partitioning   `json:"partitioning"`
	Tables          []tableReport  `json:"tables"`
	Keys            int            `json:"keys"`
	HotKeys         []hotKey       `json:"hot_keys"`
	Projection      projection     `json:"projection"`
	Recommendation  recommendation `json:"recommendation"`
	Notes           []string       `json:"notes"`
}

type limitsReport struct {
	ShardRecordsPerS int     `json:"shard_records_per_s"`
	ShardBytesPerS   int     `json:"shard_bytes_per_s"`
	HotShare         float64 `json:"hot_share"`
	TargetShare      float64 `json:"target_share"`
	RoundTripMs      float64 `json:"round_trip_ms"`
	StrictKeyMaxPerS float64 `json:"strict_key_max_per_s"`
	ReplayKeyMaxPerS float64 `json:"replay_key_max_per_s"`
}

// load is a shard's (or key's) load: means over the window, peaks over
// its busiest calendar second. Bytes are data plus partition key, as
// Kinesis counts them.
type load struct {
	Records         int     `json:"records"`
	RecordsPerS     float64 `json:"records_per_s"`
	BytesPerS       float64 `json:"bytes_per_s"`
	PeakRecordsPerS float64 `json:"peak_records_per_s"`
	PeakBytesPerS   float64 `json:"peak_bytes_per_s"`
	PeakShare       float64 `json:"peak_share"` // the larger share of the two limits in the busiest second
}

type shardLoad struct {
	ShardID string `json:"shard_id"`
	State   string `json:"state"`
	Open    bool   `json:"open"`
	load
	Hot bool `json:"hot"`
}

type partitioning struct {
	KeyTypes          map[string]int `json:"partition_key_types"`
	SourceKeys        int            `json:"source_partition_keys"`
	TopSourceKeyShare float64        `json:"top_source_key_share"`
	Scheme            string         `json:"scheme"`
	Meaning           string         `json:"meaning"`
	Advice            string         `json:"advice,omitempty"`
}

type tableReport struct {
	Schema         string         `json:"schema"`
	Table          string         `json:"table"`
	Records        int            `json:"records"`
	ControlRecords int            `json:"control_records"`
	Share          float64        `json:"share"`
	RecordsPerS    float64        `json:"records_per_s"`
	BytesPerS      float64        `json:"bytes_per_s"`
	Operations     map[string]int `json:"operations"`
	Keys           int            `json:"keys"`
	KeySource      string         `json:"key_source"`
	KeyColumns     []string       `json:"key_columns,omitempty"`
	Fallback       bool           `json:"table_level_key"`
	PKChanges      int            `json:"pk_changes"`
}

type hotKey struct {
	Rank                int     `json:"rank"`
	Schema              string  `json:"schema"`
	Table               string  `json:"table"`
	Key                 string  `json:"key"`
	KeySource           string  `json:"key_source"`
	Records             int     `json:"records"`
	Share               float64 `json:"share"`
	RecordsPerS         float64 `json:"records_per_s"`
	PeakRecordsPerS     float64 `json:"peak_records_per_s"`
	BytesPerS           float64 `json:"bytes_per_s"`
	PeakBytesPerS       float64 `json:"peak_bytes_per_s"`
	DestShard           int     `json:"dest_shard"`
	OverStrictCap       bool    `json:"over_strict_cap"`
	BurstsOverStrictCap bool    `json:"bursts_over_strict_cap"`
}

type destShardLoad struct {
	Shard int `json:"shard"`
	load
}

type projection struct {
	Shards          int             `json:"shards"`
	Basis           string          `json:"basis"`
	ShardsUsed      int             `json:"shards_used"`
	PerShard        []destShardLoad `json:"per_shard"`
	MaxMeanRatio    float64         `json:"max_mean_ratio"`
	PeakRecordsPerS float64         `json:"peak_records_per_s"`
	PeakBytesPerS   float64         `json:"peak_bytes_per_s"`
	PeakShare       float64         `json:"peak_share"`
	HotShards       int             `json:"hot_shards"`
	ControlCopies   int             `json:"control_copies"`
}

type fallbackTable struct {
	Schema      string  `json:"schema"`
	Table       string  `json:"table"`
	Records     int     `json:"records"`
	RecordsPerS float64 `json:"records_per_s"`
}

type recommendation struct {
	DestShards            int             `json:"dest_shards"`
	DestShardsFit         bool            `json:"dest_shards_fit"`
	OnDemandFits          bool            `json:"on_demand_fits"`
	KeysOverStrictCap     int             `json:"keys_over_strict_cap"`
	KeysOverStrictCapMean int             `json:"keys_over_strict_cap_mean"`
	KeysOverShardLimit    int             `json:"keys_over_shard_limit"`
	FallbackTables        []fallbackTable `json:"table_level_key_tables"`
	Actions               []string        `json:"actions"`
}

// --- the terminal report ---

// writeTextReport prints the report for people: aligned tables and bars.
// Names are made printable; keys appear as 16-hex routing keys only.
func writeTextReport(out io.Writer, r analysisReport) {
	w := &errWriter{w: out}
	w.printf("repartd analyze · stream %s · from %s · ended: %s\n", termSafe(r.Stream), r.From, r.Ended)
	span := "arrivals"
	if r.From == "latest" {
		span = "live traffic"
	}
	w.printf("  window   %s records in %s s of %s (%s data, %s control, %s invalid)\n",
		fmtInt(r.Records), fmtFloat(r.WindowS, 1), span, fmtInt(r.DataRecords), fmtInt(r.ControlRecords), fmtInt(r.InvalidRecords))
	w.printf("  load     %s rec/s, %s mean · busiest second %s rec/s, %s\n",
		fmtRate(r.RecordsPerS), fmtBytesRate(r.BytesPerS), fmtRate(r.PeakRecordsPerS), fmtBytesRate(r.PeakBytesPerS))

	w.printf("\nSOURCE SHARDS   per-shard write limits %s rec/s and %s (data + partition key); hot: over %s in the busiest second\n",
		fmtInt(shardRecordsPerS), fmtBytesRate(shardBytesPerS), pct(hotShare))
	t := newTextTable("shard", "state", ">records", ">rec/s", ">peak rec/s", ">bytes/s", ">peak bytes/s", "busiest second vs limit")
	for _, s := range r.SourceShards {
		hot := ""
		if s.Hot {
			hot = " HOT"
		}
		t.row(s.ShardID, s.State, fmtInt(s.Records), fmtRate(s.RecordsPerS), fmtRate(s.PeakRecordsPerS),
			fmtBytesRate(s.BytesPerS), fmtBytesRate(s.PeakBytesPerS), limitBar(s.PeakShare, 20)+" "+pct(s.PeakShare)+hot)
	}
	t.write(w, "  ")
	if len(r.HotSourceShards) > 0 {
		w.printf("  → hot: %s (Kinesis throttles writes past a shard's limits, even on-demand)\n", strings.Join(r.HotSourceShards, ", "))
	}

	w.printf("\nDMS PARTITIONING\n")
	var kinds []string
	for _, k := range sortedKeys(r.Partitioning.KeyTypes) {
		kinds = append(kinds, fmt.Sprintf("%s %s", termSafe(k), fmtInt(r.Partitioning.KeyTypes[k])))
	}
	if len(kinds) == 0 {
		kinds = []string{"(none seen)"}
	}
	w.printf("  partition-key-type     %s\n", strings.Join(kinds, " · "))
	w.printf("  source partition keys  %s (the most common carries %s of records): %s\n",
		fmtInt(r.Partitioning.SourceKeys), pct(r.Partitioning.TopSourceKeyShare), r.Partitioning.Meaning)
	if r.Partitioning.Advice != "" {
		w.printf("  ! %s\n", r.Partitioning.Advice)
	}

	w.printf("\nTABLES\n")
	t = newTextTable("table", ">records", ">share", ">rec/s", ">bytes/s", ">keys", "key", "operations")
	for _, tb := range r.Tables {
		key := tb.KeySource
		if len(tb.KeyColumns) > 0 && tb.KeySource == "learned" {
			key += " (" + termSafe(strings.Join(tb.KeyColumns, ",")) + ")"
		}
		t.row(tableLabel(tb.Schema, tb.Table), fmtInt(tb.Records+tb.ControlRecords), pct(tb.Share), fmtRate(tb.RecordsPerS),
			fmtBytesRate(tb.BytesPerS), fmtInt(tb.Keys), key, opsMix(tb.Operations))
	}
	t.write(w, "  ")
	if len(r.InvalidReasons) > 0 {
		for _, k := range sortedKeys(r.InvalidReasons) {
			w.printf("  (invalid) %s: %s\n", k, fmtInt(r.InvalidReasons[k]))
		}
	}

	w.printf("\nHOTTEST ROWS   by share of changes; a row is its table and 16-hex routing key (contract v1), never its values\n")
	t = newTextTable(">#", "table", "key", ">share", ">records", ">rec/s", ">peak rec/s", ">dest shard",
		fmt.Sprintf("busiest second vs strict cap (%s rec/s)", fmtRate(r.Limits.StrictKeyMaxPerS)))
	for _, h := range r.HotKeys {
		verdict := ""
		switch {
		case h.OverStrictCap:
			verdict = " OVER"
		case h.BurstsOverStrictCap:
			verdict = " bursts over"
		}
		t.row(fmt.Sprint(h.Rank), tableLabel(h.Schema, h.Table), h.Key, pct(h.Share), fmtInt(h.Records), fmtRate(h.RecordsPerS),
			fmtRate(h.PeakRecordsPerS), fmt.Sprint(h.DestShard), limitBar(h.PeakRecordsPerS/r.Limits.StrictKeyMaxPerS, 20)+verdict)
	}
	t.write(w, "  ")
	w.printf("  %s distinct keys in the window\n", fmtInt(r.Keys))

	p := r.Projection
	w.printf("\nPROJECTED SPREAD   %s destination shards (%s), keyed by contract v1: ExplicitHashKey = key<<64|key over even hash ranges\n",
		fmtInt(p.Shards), p.Basis)
	t = newTextTable(">shard", ">records", ">rec/s", ">peak rec/s", ">bytes/s", ">peak bytes/s", "busiest second vs limit")
	const maxRows = 64
	for i, s := range p.PerShard {
		if i == maxRows && len(p.PerShard) > maxRows+1 {
			t.row("…", fmt.Sprintf("%d more", len(p.PerShard)-maxRows), "", "", "", "", "(see --json or --html)")
			break
		}
		t.row(fmt.Sprint(s.Shard), fmtInt(s.Records), fmtRate(s.RecordsPerS), fmtRate(s.PeakRecordsPerS),
			fmtBytesRate(s.BytesPerS), fmtBytesRate(s.PeakBytesPerS), limitBar(s.PeakShare, 20)+" "+pct(s.PeakShare))
	}
	t.write(w, "  ")
	w.printf("  max/mean %s · %s of %s shards carry rows · busiest shard-second %s rec/s, %s (%s of a limit) · %s shards over %s\n",
		fmtFloat(p.MaxMeanRatio, 2), fmtInt(p.ShardsUsed), fmtInt(p.Shards), fmtRate(p.PeakRecordsPerS), fmtBytesRate(p.PeakBytesPerS),
		pct(p.PeakShare), fmtInt(p.HotShards), pct(hotShare))

	w.printf("\nRECOMMENDATION\n")
	for _, a := range r.Recommendation.Actions {
		w.printf("  • %s\n", termSafeLong(a))
	}
	if len(r.Notes) > 0 {
		w.printf("\nNOTES\n")
		for _, n := range r.Notes {
			w.printf("  - %s\n", termSafeLong(n))
		}
	}
}

// errWriter keeps the first write error and skips later writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}

// textTable aligns columns by rune count; a header starting with '>' is
// right-aligned (the '>' is not shown). The last column is not padded.
type textTable struct {
	head  []string
	right []bool
	rows  [][]string
}

func newTextTable(head ...string) *textTable {
	t := &textTable{}
	for _, h := range head {
		r := strings.HasPrefix(h, ">")
		t.head = append(t.head, strings.TrimPrefix(h, ">"))
		t.right = append(t.right, r)
	}
	return t
}

func (t *textTable) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *textTable) write(w *errWriter, indent string) {
	width := make([]int, len(t.head))
	for _, row := range append([][]string{t.head}, t.rows...) {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range append([][]string{t.head}, t.rows...) {
		var b strings.Builder
		b.WriteString(indent)
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case i == len(row)-1 && !t.right[i]:
				b.WriteString(c)
			case t.right[i]:
				b.WriteString(pad + c)
			default:
				b.WriteString(c + pad)
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		w.printf("%s\n", strings.TrimRight(b.String(), " "))
	}
}

// limitBar draws share (1 = the limit) over width cells in eighths, with
// a light track up to the limit and ▶ past it.
func limitBar(share float64, width int) string {
	if math.IsNaN(share) || share < 0 {
		share = 0
	}
	eighths := int(math.Round(min(share, 1) * float64(width*8)))
	full, part := eighths/8, eighths%8
	var b strings.Builder
	b.WriteString(strings.Repeat("█", full))
	if part > 0 {
		b.WriteRune([]rune("▏▎▍▌▋▊▉")[part-1])
	}
	used := full
	if part > 0 {
		used++
	}
	b.WriteString(strings.Repeat("░", width-used))
	if share > 1 {
		b.WriteString("▶")
	}
	return b.String()
}

func tableLabel(schema, table string) string {
	if schema == "" && strings.HasPrefix(table, "(") {
		return table
	}
	return termSafe(schema + "." + table)
}

// termSafe makes a name printable on one line and at most 48 runes.
func termSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > 48 {
		s = string([]rune(s)[:47]) + "…"
	}
	return s
}

func termSafeLong(s string) string {
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

func opsMix(ops map[string]int) string {
	total := 0
	for _, n := range ops {
		total += n
	}
	names := sortedKeys(ops)
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(ops[b], ops[a]) })
	var parts []string
	for _, k := range names {
		if s := float64(ops[k]) / float64(total); s >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s %s", termSafe(k), pct(s)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s", termSafe(k), fmtInt(ops[k])))
		}
	}
	return strings.Join(parts, " · ")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fmtInt writes n with thousands separators: 12,345.
func fmtInt(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtFloat(f float64, prec int) string { return strconv.FormatFloat(f, 'f', prec, 64) }

// fmtRate: one decimal below 100 (none if whole), whole numbers with
// separators above.
func fmtRate(f float64) string {
	if f < 100 && math.Round(f*10) != math.Round(f)*10 {
		return fmtFloat(f, 1)
	}
	return fmtInt(int(math.Round(f)))
}

func fmtBytesRate(f float64) string {
	switch {
	case f >= 1<<20:
		return fmtFloat(f/(1<<20), 2) + " MiB/s"
	case f >= 1<<10:
		return fmtFloat(f/(1<<10), 1) + " KiB/s"
	}
	return fmtFloat(f, 0) + " B/s"
}

// pct: 0.912 is "91%", 0.004 is "0.4%", 0.00037 is "0.04%".
func pct(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return fmtFloat(f*100, 2) + "%"
	case f < 0.1:
		return fmtFloat(f*100, 1) + "%"
	}
	return fmtInt(int(math.Round(f*100))) + "%"
}
