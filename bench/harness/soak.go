package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// SoakConfig shapes RunSoak: the relay against the in-process fake for a
// while, fed at full speed, to see whether its memory stays flat.
type SoakConfig struct {
	Duration   time.Duration // how long the generator feeds the source
	Sample     time.Duration // RSS and heap sampling interval
	PutLatency time.Duration // the fake's PutRecords latency
	FailRate   float64       // share of PutRecords entries the fake fails
	// SourceShards and DestShards: the source is keyed by table, as DMS
	// keys it with PartitionIncludeSchemaTable.
	SourceShards, DestShards int
	Tables, Rows             int
	// Templates row images, each of a different row, are generated once
	// and sent in turn, each time stamped with a fresh transaction-id, so
	// feeding costs a copy, not a DMS encoder, per record. Distinct rows
	// keep the load uniform: a row sent twice per turn changes twice as
	// often, and in strict order a row cannot go faster than one record
	// per PutRecords round trip (its shard's checkpoint then falls behind
	// for good).
	Templates int
	// MaxBacklog bounds records written to the source and not yet read by
	// the relay: the generator waits above it.
	MaxBacklog int64 // records the relay has not read yet
	Seed       uint64
	// Maintain is how often the source is trimmed behind the relay's
	// checkpoint and the destination is checked and discarded.
	Maintain time.Duration
	// TrimConsumed trims the source behind the relay's reads instead of
	// its checkpoint: the fake's memory then does not depend on how far
	// the checkpoint lags.
	TrimConsumed bool
}

// DefaultSoakConfig is `soak`'s: 10 minutes, the shape of BenchmarkRelay
// (8 → 16 shards, 20 ms PutRecords, 100,000 rows in 8 tables).
func DefaultSoakConfig() SoakConfig {
	return SoakConfig{
		Duration: 10 * time.Minute, Sample: 5 * time.Second, PutLatency: 20 * time.Millisecond,
		SourceShards: 8, DestShards: 16, Tables: 8, Rows: 100_000, Templates: 50_000,
		MaxBacklog: 200_000, Seed: 1, Maintain: 250 * time.Millisecond,
	}
}

// Validate reports every bad field at once.
func (c SoakConfig) Validate() error {
	var errs []error
	if c.Duration <= 0 || c.Duration > 24*time.Hour {
		errs = append(errs, fmt.Errorf("duration %s: must be in (0, 24h]", c.Duration))
	}
	if c.Sample <= 0 || c.Sample > c.Duration {
		errs = append(errs, fmt.Errorf("sample %s: must be in (0, duration]", c.Sample))
	}
	if !(c.FailRate >= 0 && c.FailRate < 1) {
		errs = append(errs, fmt.Errorf("fail rate %v: must be in [0, 1)", c.FailRate))
	}
	if c.PutLatency < 0 {
		errs = append(errs, fmt.Errorf("put latency %s: must be ≥ 0", c.PutLatency))
	}
	if c.SourceShards < 1 || c.DestShards < 1 {
		errs = append(errs, fmt.Errorf("shards %d → %d: need at least 1 each", c.SourceShards, c.DestShards))
	}
	if c.Tables < 1 || c.Rows < c.Tables || c.Templates < 1 || c.Templates > c.Rows {
		errs = append(errs, fmt.Errorf("tables %d, rows %d, templates %d: need rows ≥ tables ≥ 1 and rows ≥ templates ≥ 1", c.Tables, c.Rows, c.Templates))
	}
	if c.MaxBacklog < 500 {
		errs = append(errs, fmt.Errorf("max backlog %d: must be ≥ 500 (one batch)", c.MaxBacklog))
	}
	if c.Maintain <= 0 {
		errs = append(errs, fmt.Errorf("maintain %s: must be > 0", c.Maintain))
	}
	return errors.Join(errs...)
}

// SoakSample is one sampling point of a soak.
type SoakSample struct {
	T           float64 `json:"t_s"`
	Delivered   int64   `json:"delivered"`     // records written to the destination so far
	RecordsPerS float64 `json:"records_per_s"` // over the interval ending here
	RSSMiB      float64 `json:"rss_mib"`       // VmRSS
	HeapMiB     float64 `json:"heap_mib"`      // runtime/metrics /memory/classes/heap/objects:bytes
	HeapLiveMiB float64 `json:"heap_live_mib"` // runtime/metrics /gc/heap/live:bytes (after the last GC)
	Backlog     int64   `json:"backlog"`       // generated, not yet read by the relay
	// SourceStored and DestStored are the records the fake holds: the
	// source behind the relay's checkpoint is trimmed, the destination
	// discarded once checked, so both stay bounded.
	SourceStored int `json:"source_stored"`
	DestStored   int `json:"dest_stored"`
}

// SoakResult is one soak run.
type SoakResult struct {
	Command      string  `json:"command"`
	DurationS    float64 `json:"duration_s"` // generator time
	WallS        float64 `json:"wall_s"`     // with the drain
	FailRate     float64 `json:"fail_rate"`
	PutLatencyMs float64 `json:"put_latency_ms"`
	SourceShards int     `json:"source_shards"`
	DestShards   int     `json:"dest_shards"`
	Rows         int     `json:"rows"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Generated    int64   `json:"generated"` // data records written to the source
	RelayedIn    int64   `json:"relayed_in"`
	// Delivered are the data records found in the destination: relayed
	// records minus the create-table records (whose copies go to every
	// shard and are not counted).
	Delivered   int64   `json:"delivered"`
	RecordsPerS float64 `json:"records_per_s"` // written to the destination ÷ time, at the last sample
	CPUSecPer1M float64 `json:"cpu_s_per_1m"`  // the whole process: relay, fake, generator and checker
	// Order: per row (destination partition key), transaction-ids must
	// arrive increasing. Violations count smaller ones, Duplicates equal
	// ones (a resend, in strict mode only after an ambiguous write, which
	// the soak does not inject); Missing = relayed in − delivered.
	OrderViolations int          `json:"order_violations"`
	Duplicates      int          `json:"duplicates"`
	Missing         int64        `json:"missing"`
	KeyConflicts    int          `json:"key_conflicts"` // keys the fake saw in flight twice
	Trimmed         int64        `json:"trimmed"`       // source records dropped behind the checkpoint
	Samples         []SoakSample `json:"samples"`
	RSSFirstMiB     float64      `json:"rss_first_mib"`
	RSSLastMiB      float64      `json:"rss_last_mib"`
	RSSMaxMiB       float64      `json:"rss_max_mib"`
	// Slopes are least-squares fits over the second half of the samples
	// (the first half includes warm-up), in MiB per minute.
	RSSSlopeMiBPerMin  Num `json:"rss_slope_mib_per_min"`
	HeapSlopeMiBPerMin Num `json:"heap_slope_mib_per_min"`
	LoadAvgStart       Num `json:"loadavg_start"`
	LoadAvgEnd         Num `json:"loadavg_end"`
}

const (
	soakSrc = "soak-src"
	soakDst = "soak-dst"
	// stampWidth is the space-padded width of a template's transaction-id:
	// JSON allows whitespace before a value, and 19 digits hold any int64.
	stampWidth = 19
)

// rowTemplate is one row image with room for its transaction-id.
type rowTemplate struct {
	data    []byte
	table   *string
	ehk     *string // the table's source shard
	stampAt int     // data[stampAt-stampWidth:stampAt] holds the transaction-id
}

// RunSoak runs kinesisio.Relay (strict order, no pacing, the settings of
// BenchmarkRelay) against an in-process fake Kinesis for cfg.Duration,
// with a generator keeping the source fed, then drains it. The source is
// trimmed behind the relay's checkpoint and the destination is checked
// (order per row) and discarded as it goes, so only the relay's own memory
// can grow. logf, if set, gets a line per sample.
func RunSoak(ctx context.Context, cfg SoakConfig, logf func(string, ...any)) (*SoakResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	// Bounded: the drain has rc.DrainTimeout; this is the backstop.
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration+3*time.Minute)
	defer cancel()
	controls, temps, err := soakTemplates(cfg)
	if err != nil {
		return nil, err
	}
	fake := kinesistest.New(kinesistest.WithSeed(int64(cfg.Seed)))
	if err := fake.CreateStream(soakSrc, cfg.SourceShards); err != nil {
		return nil, err
	}
	if err := fake.CreateStream(soakDst, cfg.DestShards); err != nil {
		return nil, err
	}
	if err := fake.SetFaults(soakDst, kinesistest.Faults{PutLatency: cfg.PutLatency, PutFailRate: cfg.FailRate, CheckKeys: true}); err != nil {
		return nil, err
	}
	if _, err := fake.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(soakSrc), Records: controls}); err != nil {
		return nil, err
	}
	rc := kinesisio.DefaultConfig()
	rc.Source, rc.Dest = soakSrc, soakDst
	rc.MaxInFlight = 64
	rc.MaxBufferedRecords = 100_000
	rc.MaxBufferedBytes = 128 << 20
	rc.ShardRecordsPerSec, rc.ShardBytesPerSec = 0, 0 // the fake does not limit; measure the relay
	rc.RetryBase, rc.RetryMax = 5*time.Millisecond, 50*time.Millisecond
	store := &kinesisio.MemStore{}
	relay, err := kinesisio.NewRelay(rc, fake, fake, store, zerolog.Nop())
	if err != nil {
		return nil, err
	}

	res := &SoakResult{
		FailRate: cfg.FailRate, PutLatencyMs: float64(cfg.PutLatency) / 1e6, SourceShards: cfg.SourceShards,
		DestShards: cfg.DestShards, Rows: cfg.Rows, GOMAXPROCS: runtime.GOMAXPROCS(0), LoadAvgStart: Num(LoadAvg1()),
	}
	chk := newOrderChecker()
	cpu0, t0 := selfCPU(), time.Now()
	var generated int64

	g, gctx := errgroup.WithContext(ctx)
	feedCtx, stopFeeding := context.WithTimeout(gctx, cfg.Duration)
	defer stopFeeding()
	relayDone := make(chan struct{})
	g.Go(func() error {
		defer close(relayDone)
		return relay.Run(gctx)
	})
	// The generator: batches of 500 stamped templates, as fast as the
	// relay takes them (bounded by MaxBacklog).
	g.Go(func() error {
		defer relay.Drain() // 1. feeding stops, 2. the relay drains and returns
		entries := make([]types.PutRecordsRequestEntry, 500)
		var buf []byte
		next := 0
		stamp := int64(1_000_000)
		for feedCtx.Err() == nil {
			// The fake's count, not the relay's Stats: those are published
			// once a second, and would pace the feed at MaxBacklog per second.
			if int64(fake.Unread(soakSrc)) > cfg.MaxBacklog {
				select {
				case <-feedCtx.Done():
				case <-time.After(5 * time.Millisecond):
				}
				continue
			}
			buf = buf[:0]
			ends := make([]int, 0, len(entries))
			for i := range entries {
				t := &temps[next]
				next = (next + 1) % len(temps)
				start := len(buf)
				buf = append(buf, t.data...)
				stamp++
				putStamp(buf[start+t.stampAt-stampWidth:start+t.stampAt], stamp)
				ends = append(ends, len(buf))
				entries[i].PartitionKey, entries[i].ExplicitHashKey = t.table, t.ehk
			}
			start := 0
			for i, end := range ends {
				entries[i].Data = buf[start:end]
				start = end
			}
			// The fake copies Data on put, so buf is reused.
			if _, err := fake.PutRecords(feedCtx, &kinesis.PutRecordsInput{StreamName: aws.String(soakSrc), Records: entries}); err != nil {
				if feedCtx.Err() != nil {
					return nil
				}
				return fmt.Errorf("feed the source: %w", err)
			}
			generated += int64(len(entries)) // read after g.Wait
		}
		return nil
	})
	// Maintenance: trim the source behind the checkpoint, check and
	// discard the destination.
	maintain := func() error {
		cp, found, err := store.Load(gctx)
		if err != nil {
			return err
		}
		if cfg.TrimConsumed {
			n, err := fake.TrimConsumed(soakSrc)
			if err != nil {
				return err
			}
			res.Trimmed += int64(n)
		} else if found {
			for id, sc := range cp.Shards {
				if sc.Seq == "" {
					continue
				}
				n, err := fake.Trim(soakSrc, id, sc.Seq)
				if err != nil {
					return err
				}
				res.Trimmed += int64(n)
			}
		}
		_, err = fake.DiscardRecords(soakDst, chk.visit)
		return err
	}
	g.Go(func() error {
		tick := time.NewTicker(cfg.Maintain)
		defer tick.Stop()
		for {
			select {
			case <-relayDone:
				return nil
			case <-tick.C:
				if err := maintain(); err != nil {
					return err
				}
			}
		}
	})
	// The sampler.
	g.Go(func() error {
		tick := time.NewTicker(cfg.Sample)
		defer tick.Stop()
		lastT, lastN := t0, int64(0)
		for {
			select {
			case <-feedCtx.Done():
				return nil
			case now := <-tick.C:
				n := int64(fake.StreamStats(soakDst).Written)
				backlog := int64(fake.Unread(soakSrc))
				rss := SelfRSSMiB()
				heap, live := heapMiB()
				s := SoakSample{T: now.Sub(t0).Seconds(), Delivered: n, RecordsPerS: float64(n-lastN) / now.Sub(lastT).Seconds(),
					RSSMiB: rss, HeapMiB: heap, HeapLiveMiB: live, Backlog: backlog, SourceStored: fake.Stored(soakSrc), DestStored: fake.Stored(soakDst)}
				res.Samples = append(res.Samples, s)
				lastT, lastN = now, n
				logf("soak %4.0fs: %8.0f records/s, RSS %6.1f MiB, heap %6.1f MiB (live %6.1f), backlog %d, fake holds %d + %d records",
					s.T, s.RecordsPerS, s.RSSMiB, s.HeapMiB, s.HeapLiveMiB, s.Backlog, s.SourceStored, s.DestStored)
			}
		}
	})
	err = g.Wait()
	fed := time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("soak: %w", err)
	}
	if err := maintain(); err != nil { // the rest of the destination
		return res, err
	}
	st := relay.Stats()
	res.DurationS = min(fed, cfg.Duration).Seconds()
	res.WallS = fed.Seconds()
	res.Generated, res.RelayedIn = generated, st.RecordsIn-int64(len(controls))
	res.Delivered = chk.records
	if n := len(res.Samples); n > 0 { // while fed, the drain left out
		res.RecordsPerS = float64(res.Samples[n-1].Delivered) / res.Samples[n-1].T
	}
	res.CPUSecPer1M = PerMillion(selfCPU()-cpu0, chk.records)
	res.OrderViolations, res.Duplicates = chk.violations, chk.dups
	res.Missing = res.RelayedIn - chk.records
	res.KeyConflicts = fake.StreamStats(soakDst).KeyConflicts
	res.LoadAvgEnd = Num(LoadAvg1())
	res.summarize()
	return res, nil
}

// summarize fills the RSS figures and slopes from the samples.
func (r *SoakResult) summarize() {
	r.RSSSlopeMiBPerMin, r.HeapSlopeMiBPerMin = Num(nanValue()), Num(nanValue())
	if len(r.Samples) == 0 {
		return
	}
	r.RSSFirstMiB, r.RSSLastMiB = r.Samples[0].RSSMiB, r.Samples[len(r.Samples)-1].RSSMiB
	for _, s := range r.Samples {
		r.RSSMaxMiB = max(r.RSSMaxMiB, s.RSSMiB)
	}
	half := r.Samples[len(r.Samples)/2:]
	var t, rss, heap []float64
	for _, s := range half {
		t, rss, heap = append(t, s.T/60), append(rss, s.RSSMiB), append(heap, s.HeapMiB)
	}
	r.RSSSlopeMiBPerMin, r.HeapSlopeMiBPerMin = Num(Slope(t, rss)), Num(Slope(t, heap))
}

// Slope is the least-squares slope of y over x, NaN with fewer than two
// distinct x.
func Slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return nanValue()
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return nanValue()
	}
	return (n*sxy - sx*sy) / d
}

// orderChecker checks per-row order as the destination is discarded, in
// memory bounded by the number of rows: the last transaction-id per row.
type orderChecker struct {
	last                  map[string]int64
	records               int64
	violations, dups, bad int
}

func newOrderChecker() *orderChecker { return &orderChecker{last: map[string]int64{}} }

// visit takes the destination's records shard by shard in write order; a
// row's records all land on its one shard.
func (c *orderChecker) visit(_, pk string, data []byte) {
	if bytes.HasPrefix(data, []byte(`{"control"`)) {
		return // a create-table copy, one per destination shard
	}
	txn, ok := TransactionID(data)
	if !ok {
		c.bad++
		return
	}
	c.records++
	prev, seen := c.last[pk]
	switch {
	case !seen:
		// pk may point into a large buffer of the fake's: keep a copy.
		c.last[strings.Clone(pk)] = txn
	case txn == prev:
		c.dups++
	case txn < prev:
		c.violations++
	default:
		c.last[pk] = txn
	}
}

// TransactionID is loadgen's: a row's source order.
func TransactionID(data []byte) (int64, bool) { return loadgen.TransactionID(data) }

// soakTemplates generates the create-table records and cfg.Templates row
// images of distinct rows, each with its transaction-id blanked to
// stampWidth spaces.
func soakTemplates(cfg SoakConfig) ([]types.PutRecordsRequestEntry, []rowTemplate, error) {
	lc := loadgen.DefaultConfig()
	lc.Tables, lc.Rows, lc.HotShare, lc.Seed = cfg.Tables, cfg.Rows, 0, cfg.Seed
	g, err := loadgen.New(lc)
	if err != nil {
		return nil, nil, err
	}
	// Each table on its own source shard (tables wrap around the shards):
	// keyed by MD5 alone, 8 tables land on 5 of 8 shards, and the busiest
	// shard's reads (50,000 records/s) would cap the run, not the relay.
	tables, ehks := map[string]*string{}, map[string]*string{}
	var controls []types.PutRecordsRequestEntry
	var temps []rowTemplate
	type rowID struct {
		table string
		id    int
	}
	rows := map[rowID]bool{}
	const field = `"transaction-id":`
	for len(temps) < cfg.Templates {
		r := g.Next()
		if tables[r.Table] == nil {
			tables[r.Table] = aws.String(r.Table)
			ehks[r.Table] = aws.String(shardStart(len(ehks)%cfg.SourceShards, cfg.SourceShards))
		}
		if r.Control {
			controls = append(controls, types.PutRecordsRequestEntry{Data: bytes.Clone(r.Data), PartitionKey: tables[r.Table], ExplicitHashKey: ehks[r.Table]})
			continue
		}
		row := rowID{r.Table, r.ID}
		if rows[row] {
			continue
		}
		rows[row] = true
		i := bytes.Index(r.Data, []byte(field))
		if i < 0 {
			return nil, nil, errors.New("soak: loadgen record without a transaction-id")
		}
		i += len(field)
		j := i
		for j < len(r.Data) && r.Data[j] >= '0' && r.Data[j] <= '9' {
			j++
		}
		d := append(append(bytes.Clone(r.Data[:i]), bytes.Repeat([]byte(" "), stampWidth)...), r.Data[j:]...)
		temps = append(temps, rowTemplate{data: d, table: tables[r.Table], ehk: ehks[r.Table], stampAt: i + stampWidth})
	}
	return controls, temps, nil
}

// shardStart is the first hash key of shard i of n, as CreateStream
// splits the key space: i*2^128/n, in decimal.
func shardStart(i, n int) string {
	b := new(big.Int).Lsh(big.NewInt(int64(i)), 128)
	return b.Div(b, big.NewInt(int64(n))).String()
}

// putStamp writes n right-aligned into dst, space-padded.
func putStamp(dst []byte, n int64) {
	for i := len(dst) - 1; i >= 0; i-- {
		if n == 0 && i < len(dst)-1 {
			dst[i] = ' '
			continue
		}
		dst[i] = byte('0' + n%10)
		n /= 10
	}
}

// SelfRSSMiB is this process's resident set (VmRSS), NaN if unknown.
func SelfRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nanValue()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return nanValue()
			}
			return kb / 1024
		}
	}
	return nanValue()
}

// heapMiB is the heap's objects (live and not yet swept) and its live
// bytes as of the last GC.
func heapMiB() (objects, live float64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	val := func(m metrics.Sample) float64 {
		if m.Value.Kind() != metrics.KindUint64 {
			return nanValue()
		}
		return float64(m.Value.Uint64()) / (1 << 20)
	}
	return val(s[0]), val(s[1])
}
