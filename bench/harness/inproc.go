package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/rs/zerolog"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/repartition"
)

// timedDest is the destination client with a stopwatch on PutRecords: it
// times every call to the microsecond (the relay's lag lines round to
// milliseconds, too coarse for sub-millisecond emulator calls) and notes
// the calls that carry the hottest key.
type timedDest struct {
	*kinesis.Client
	hotPK string

	mu          sync.Mutex
	first, last time.Time
	calls       int
	entries     int64 // entries acknowledged
	rtts        []float64
	hotRTTs     []float64 // ms, calls carrying hotPK
	hotEntries  int64
	hotFlight   int // calls carrying hotPK in flight now
	hotMax      int // ... at most
}

func (d *timedDest) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	hot := 0
	for _, r := range in.Records {
		if aws.ToString(r.PartitionKey) == d.hotPK {
			hot++
		}
	}
	if hot > 0 {
		d.mu.Lock()
		d.hotFlight++
		d.hotMax = max(d.hotMax, d.hotFlight)
		d.mu.Unlock()
	}
	t0 := time.Now()
	out, err := d.Client.PutRecords(ctx, in, opts...)
	t1 := time.Now()
	ms := float64(t1.Sub(t0).Microseconds()) / 1000
	d.mu.Lock()
	defer d.mu.Unlock()
	if hot > 0 {
		d.hotFlight--
	}
	if err != nil {
		return out, err
	}
	if d.first.IsZero() {
		d.first = t0
	}
	d.last = t1
	d.calls++
	d.entries += int64(len(in.Records)) - int64(aws.ToInt32(out.FailedRecordCount))
	d.rtts = append(d.rtts, ms)
	if hot > 0 {
		d.hotRTTs = append(d.hotRTTs, ms)
		d.hotEntries += int64(hot)
	}
	return out, nil
}

var _ kinesisio.Destination = (*timedDest)(nil)

// inprocOutcome is one in-process relay run.
type inprocOutcome struct {
	timedOut    bool
	recordsPerS float64
	calls       int
	entries     int64
	putP50Ms    float64
	hotRTTMs    float64 // mean round trip of calls carrying the hottest key
	hotShareOut float64 // hottest key's share of the entries written
	meanBatch   float64
	// hotBusy is the hottest key's records acknowledged per second times
	// its mean round trip: the share of the run its one-record pipe was
	// busy (≤ 1 while a key has at most one record in flight).
	hotBusy      float64
	hotMaxFlight int     // most calls carrying the hottest key at once
	otherCores   float64 // the machine's CPU used by anything else meanwhile
}

// runInProcess runs kinesisio.Relay (what `repartd run` runs, with its
// defaults) in this process with a timed destination, until it is idle
// for 2 s or bound passes.
func (e *Env) runInProcess(ctx context.Context, name, src, dst string, mode hotMode, hotPK string, bound time.Duration) (inprocOutcome, error) {
	var o inprocOutcome
	cfg := kinesisio.DefaultConfig()
	cfg.Source, cfg.Dest, cfg.Ordering = src, dst, mode.ordering
	if !mode.pacing {
		cfg.ShardRecordsPerSec, cfg.ShardBytesPerSec = 0, 0
	}
	cfg.StopWhenIdle = 2 * time.Second
	cfg.LogInterval = time.Second
	rules, err := repartition.NewKeyRules(nil)
	if err != nil {
		return o, err
	}
	cfg.Rules = rules
	conns := cfg.MaxInFlight + 16
	sc, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: e.Target.SourceURL(), MaxConns: conns})
	if err != nil {
		return o, err
	}
	dc, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: e.Target.DestURL(), MaxConns: conns})
	if err != nil {
		return o, err
	}
	td := &timedDest{Client: dc, hotPK: hotPK}
	logf, err := os.Create(filepath.Join(e.Cfg.Work, "logs", name+".log"))
	if err != nil {
		return o, err
	}
	defer logf.Close()
	relay, err := kinesisio.NewRelay(cfg, sc, td, &kinesisio.MemStore{}, zerolog.New(logf).With().Timestamp().Logger())
	if err != nil {
		return o, err
	}
	rctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	machine0, self0, t0 := MachineCPU(), selfCPU(), time.Now()
	srcEmu, dstEmu := StartCPUMeter(e.Target.SourcePID()), StartCPUMeter(e.Target.DestPID())
	err = relay.Run(rctx)
	ours := selfCPU() - self0
	for _, c := range []float64{srcEmu.Seconds(), dstEmu.Seconds()} {
		if finite(c) {
			ours += c
		}
	}
	o.otherCores = max(0, MachineCPU()-machine0-ours) / time.Since(t0).Seconds()
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		o.timedOut = true
	default:
		return o, fmt.Errorf("in-process relay: %w", err)
	}
	td.mu.Lock()
	defer td.mu.Unlock()
	o.calls, o.entries = td.calls, td.entries
	if span := td.last.Sub(td.first).Seconds(); span > 0 {
		o.recordsPerS = float64(td.entries) / span
		o.hotBusy = float64(td.hotEntries) / span * mean(td.hotRTTs) / 1000
	}
	o.hotMaxFlight = td.hotMax
	sorted := slices.Clone(td.rtts)
	slices.Sort(sorted)
	o.putP50Ms = Percentile(sorted, 50)
	o.hotRTTMs = mean(td.hotRTTs)
	o.hotShareOut = Ratio(float64(td.hotEntries), float64(td.entries))
	o.meanBatch = Ratio(float64(td.entries), float64(td.calls))
	return o, nil
}

func mean(v []float64) float64 {
	if len(v) == 0 {
		return nanValue()
	}
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
