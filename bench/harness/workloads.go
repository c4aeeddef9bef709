package harness

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"golang.org/x/sync/errgroup"

	"github.com/repartd/repartd/kinesisio"
)

// defaultCeiling sizes loads when the ceiling was not measured in this run.
const defaultCeiling = 10_000

// recordsFor sizes a workload: ceiling records/s × seconds, clamped.
func (e *Env) recordsFor(ceiling, secs float64) int {
	if !(ceiling > 0) {
		ceiling = defaultCeiling
	}
	n := int(ceiling * secs)
	return min(max(n, e.Cfg.Sizes.MinRecords), e.Cfg.Sizes.MaxRecords)
}

// freshPair gives the next run empty source and destination emulators.
func (e *Env) freshPair(ctx context.Context) error {
	if err := e.Target.FreshSource(ctx); err != nil {
		return err
	}
	if err := e.Target.FreshDest(ctx); err != nil {
		return err
	}
	if e.Target.Local() {
		e.Forget()
	}
	return nil
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return nanValue()
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// ceilingOnce is one run of the raw PutRecords loop on a fresh
// destination.
type ceilingRun struct {
	loop       PutLoopResult
	emuCores   float64 // destination emulator CPU per wall second
	cpu1M      float64 // the loop's own CPU per 1M records
	otherCores float64 // the machine's CPU used by anything else
}

func (e *Env) ceilingOnce(ctx context.Context, batches [][]types.PutRecordsRequestEntry, callers int, secs float64) (ceilingRun, error) {
	var r ceilingRun
	const shards = 16
	if err := e.Target.FreshDest(ctx); err != nil {
		return r, err
	}
	stream := e.StreamName("ceiling")
	if err := e.Create(ctx, true, stream, shards); err != nil {
		return r, err
	}
	defer e.Drop(ctx, true, stream)
	emu, self, machine := StartCPUMeter(e.Target.DestPID()), selfCPU(), MachineCPU()
	loop := &PutLoop{Client: e.Dst, Stream: stream, Callers: callers, MaxRecords: e.Cfg.Sizes.CeilingRecords,
		MaxTime: time.Duration(secs * float64(time.Second)), Batches: batches}
	t0 := time.Now()
	res, err := loop.Run(ctx)
	wall := time.Since(t0).Seconds()
	emuCPU, selfUsed := emu.Seconds(), selfCPU()-self
	r.loop = res
	r.emuCores = emuCPU / res.Elapsed.Seconds()
	r.cpu1M = PerMillion(selfUsed, res.Records)
	r.otherCores = max(0, MachineCPU()-machine-emuCPU-selfUsed) / wall
	return r, err
}

// RunCeiling is workload (a), first half: tune the number of callers of
// the raw PutRecords loop (one run per setting). The repetitions run
// interleaved with the relay's in RunRelay, so both meet the same noise.
func (e *Env) RunCeiling(ctx context.Context) (*CeilingResult, [][]types.PutRecordsRequestEntry, error) {
	sz := e.Cfg.Sizes
	const shards, batch = 16, 500
	batches, recBytes, err := NewBatches(8, batch)
	if err != nil {
		return nil, nil, err
	}
	res := &CeilingResult{DestShards: shards, BatchRecords: batch, RecordBytes: recBytes, Records: sz.CeilingRecords, MaxSeconds: sz.CeilingSeconds}
	best, bestRate := sz.TuneCallers[0], 0.0
	for _, c := range sz.TuneCallers {
		r, err := e.ceilingOnce(ctx, batches, c, sz.TuneSeconds)
		if err != nil {
			return res, nil, fmt.Errorf("ceiling with %d callers: %w", c, err)
		}
		e.Logf("ceiling: %d callers → %.0f records/s (%d records, %d failed entries; other work %.2f cores)", c, r.loop.RecordsPerS, r.loop.Records, r.loop.Failed, r.otherCores)
		res.Tuning = append(res.Tuning, TunePoint{Setting: c, RecordsPerS: Num(r.loop.RecordsPerS)})
		if r.loop.RecordsPerS > bestRate {
			best, bestRate = c, r.loop.RecordsPerS
		}
	}
	res.Callers = best
	res.Command = fmt.Sprintf("harness raw PutRecords loop: %d callers × batches of %d to a %d-shard stream, ≤ %d records or %gs per run",
		best, batch, shards, sz.CeilingRecords, sz.CeilingSeconds)
	return res, batches, nil
}

// RunRelay is workload (b), with the repetitions of (a) interleaved:
// load once, then per repetition one raw-loop run and one relay run, each
// on a fresh destination, so their ratio is measured side by side.
func (e *Env) RunRelay(ctx context.Context, ceil *CeilingResult, batches [][]types.PutRecordsRequestEntry) (*RelayResult, error) {
	sz := e.Cfg.Sizes
	if err := e.freshPair(ctx); err != nil {
		return nil, err
	}
	src := e.StreamName("relay-src")
	if err := e.Create(ctx, false, src, 1); err != nil {
		return nil, err
	}
	ceiling := 0.0
	if ceil != nil {
		for _, t := range ceil.Tuning {
			ceiling = max(ceiling, float64(t.RecordsPerS))
		}
	}
	n := e.recordsFor(ceiling, sz.RelaySeconds)
	load := LoadSpec{Stream: src, Records: n}
	lr, err := e.Load(ctx, load)
	if err != nil {
		return nil, err
	}
	e.Logf("relay: loaded %d records at %.0f/s", lr.Records, lr.RecordsPerS)
	res := &RelayResult{SourceShards: 1, DestShards: 16, Records: n, LoadCommand: load.Display()}
	var rates, cpus, rss, puts, srcU, dstU, other, ratios []float64
	var cRates, cUtils, cCPUs, cOther []float64
	for rep := range e.Cfg.Reps {
		cRate := nanValue()
		if ceil != nil {
			r, err := e.ceilingOnce(ctx, batches, ceil.Callers, sz.CeilingSeconds)
			if err != nil {
				return res, fmt.Errorf("ceiling rep %d: %w", rep+1, err)
			}
			cRate = r.loop.RecordsPerS
			cRates, cUtils, cCPUs, cOther = append(cRates, cRate), append(cUtils, r.emuCores), append(cCPUs, r.cpu1M), append(cOther, r.otherCores)
			e.Logf("ceiling rep %d: %d callers → %.0f records/s, dest emulator %.2f cores, other work %.2f cores", rep+1, ceil.Callers, cRate, r.emuCores, r.otherCores)
		}
		if err := e.Target.FreshDest(ctx); err != nil {
			return res, err
		}
		dst := e.StreamName("relay-dst")
		if err := e.Create(ctx, true, dst, 16); err != nil {
			return res, err
		}
		spec := RelaySpec{Name: fmt.Sprintf("relay-%d", rep+1), Source: src, Dest: dst, StopWhenIdle: 2 * time.Second}
		res.Command = spec.Display()
		rl, err := e.StartRelay(ctx, spec)
		if err != nil {
			return res, err
		}
		o := rl.Finish(ctx, sz.RelayBound)
		if o.Stopped == nil || o.Usage.ExitCode != 0 {
			return res, fmt.Errorf("relay rep %d: exit %d, stopped line %v (log: %s)", rep+1, o.Usage.ExitCode, o.Stopped != nil, spec.Name)
		}
		rate := o.Stopped.RecordsOutPerBusyS
		cpu1m := PerMillion(o.Usage.CPUSeconds, o.Stopped.RecordsIn)
		if o.Stopped.RecordsOut > 0 {
			res.RecordBytes = int(o.Stopped.BytesOut / o.Stopped.RecordsOut)
		}
		rates, cpus, rss = append(rates, rate), append(cpus, cpu1m), append(rss, float64(o.Usage.MaxRSSKiB)/1024)
		puts = append(puts, MedianPutP50(o.Summaries))
		srcU, dstU = append(srcU, o.SrcEmuCPU/o.Busy()), append(dstU, o.DstEmuCPU/o.Busy())
		other, ratios = append(other, o.OtherCores), append(ratios, Ratio(rate, cRate))
		v, display, err := e.Verify(ctx, src, dst, "", "")
		res.VerifyCommand = display
		if err != nil {
			return res, fmt.Errorf("verify rep %d: %w", rep+1, err)
		}
		res.OrderViolations = append(res.OrderViolations, v.OrderViolations)
		res.Missing = append(res.Missing, v.Missing)
		res.Duplicates = append(res.Duplicates, v.Duplicates)
		res.DestShardRecords = v.ShardCounts()
		e.Logf("relay rep %d: %.0f records/s (busy %.1fs; %.0f%% of the ceiling run before it), %.1f CPU-s/1M, RSS %.0f MiB, put p50 %.0f ms, other work %.2f cores; verify: %d missing, %d order violations",
			rep+1, rate, o.Stopped.BusyS, 100*Ratio(rate, cRate), cpu1m, float64(o.Usage.MaxRSSKiB)/1024, puts[len(puts)-1], o.OtherCores, v.Missing, v.OrderViolations)
		e.Drop(ctx, true, dst)
	}
	res.RecordsPerBusyS, res.CPUSecPer1M, res.PeakRSSMiB = Summarize(rates), Summarize(cpus), Summarize(rss)
	res.PutP50Ms, res.SourceEmuCPU, res.DestEmuCPU = Summarize(puts), Summarize(srcU), Summarize(dstU)
	res.OtherCores, res.PairedRatio = Summarize(other), Summarize(ratios)
	if ceil != nil {
		ceil.RecordsPerS, ceil.EmulatorCPU, ceil.CPUSecPer1M, ceil.OtherCores = Summarize(cRates), Summarize(cUtils), Summarize(cCPUs), Summarize(cOther)
	}
	return res, nil
}

// RunLatency is workload (c): offered loads while the relay runs.
func (e *Env) RunLatency(ctx context.Context, ceiling float64) ([]LatencyResult, error) {
	sz := e.Cfg.Sizes
	var out []LatencyResult
	for _, rate := range sz.LatencyRates {
		lres := LatencyResult{OfferedPerS: rate, Records: int(float64(rate) * sz.LatencySeconds), Saturated: ceiling > 0 && float64(rate) > 0.9*ceiling}
		if ceiling > 0 && float64(rate) > 1.5*ceiling {
			lres.Skipped = fmt.Sprintf("over 1.5× this endpoint's measured ceiling (%.0f records/s)", ceiling)
			out = append(out, lres)
			continue
		}
		var p50, p90, p99, pmax, achieved, other, puts50, puts99 []float64
		for rep := range e.Cfg.Reps {
			r, err := e.latencyOnce(ctx, rate, lres.Records, rep)
			if err != nil {
				return out, fmt.Errorf("latency at %d/s rep %d: %w", rate, rep+1, err)
			}
			lres.Command = r.command
			sorted := slices.Clone(r.lat)
			slices.Sort(sorted)
			p50, p90, p99 = append(p50, Percentile(sorted, 50)), append(p90, Percentile(sorted, 90)), append(p99, Percentile(sorted, 99))
			pmax = append(pmax, Percentile(sorted, 100))
			achieved, other = append(achieved, r.loadRate), append(other, r.otherCores)
			puts50, puts99 = append(puts50, r.putP50), append(puts99, r.putP99)
			lres.Matched = append(lres.Matched, len(sorted))
			e.Logf("latency %d/s rep %d: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d matched of %d), other work %.2f cores", rate, rep+1,
				p50[len(p50)-1], p99[len(p99)-1], pmax[len(pmax)-1], len(sorted), lres.Records, r.otherCores)
		}
		lres.P50Ms, lres.P90Ms, lres.P99Ms, lres.MaxMs, lres.AchievedIn = Summarize(p50), Summarize(p90), Summarize(p99), Summarize(pmax), Summarize(achieved)
		lres.OtherCores, lres.PutP50Ms, lres.PutP99Ms = Summarize(other), Summarize(puts50), Summarize(puts99)
		out = append(out, lres)
	}
	return out, nil
}

type latencyRun struct {
	lat            []float64
	loadRate       float64
	command        string
	otherCores     float64
	putP50, putP99 float64 // medians of the lag lines' PutRecords percentiles
}

func (e *Env) latencyOnce(ctx context.Context, rate, n, rep int) (latencyRun, error) {
	var r latencyRun
	if err := e.freshPair(ctx); err != nil {
		return r, err
	}
	src, dst := e.StreamName("lat-src"), e.StreamName("lat-dst")
	if err := e.Create(ctx, false, src, 1); err != nil {
		return r, err
	}
	if err := e.Create(ctx, true, dst, 16); err != nil {
		return r, err
	}
	defer func() {
		e.Drop(ctx, false, src)
		e.Drop(ctx, true, dst)
	}()
	spec := RelaySpec{Name: fmt.Sprintf("latency-%d-%d", rate, rep+1), Source: src, Dest: dst}
	rl, err := e.StartRelay(ctx, spec)
	if err != nil {
		return r, err
	}
	if err := rl.WaitStarted(ctx, 30*time.Second); err != nil {
		rl.StopNow()
		return r, err
	}
	load := LoadSpec{Stream: src, Records: n, Rate: rate}
	r.command = spec.Display() + "  &  " + load.Display()
	lr, err := e.Load(ctx, load)
	if err != nil {
		rl.StopNow()
		return r, err
	}
	r.loadRate = lr.RecordsPerS
	caught := rl.WaitUntil(ctx, 60*time.Second, func(l LogLine) bool {
		return l.TotalRecordsIn >= int64(n) && l.BufferedRecords == 0
	})
	o := rl.Drain(30 * time.Second)
	if !caught {
		return r, fmt.Errorf("relay did not catch up within 60 s of the load's end (exit %d)", o.Usage.ExitCode)
	}
	sa, _, err := ReadArrivals(ctx, e.Src, src, nil)
	if err != nil {
		return r, err
	}
	da, _, err := ReadArrivals(ctx, e.Dst, dst, nil)
	if err != nil {
		return r, err
	}
	r.lat = Latencies(sa, da)
	r.otherCores = max(0, o.OtherCores-lr.CPUSeconds/o.Usage.Wall.Seconds()) // the loader is ours
	var p50s, p99s []float64
	for _, l := range o.Summaries {
		if l.PutP50Ms > 0 {
			p50s, p99s = append(p50s, l.PutP50Ms), append(p99s, l.PutP99Ms)
		}
	}
	r.putP50, r.putP99 = Summarize(p50s).Median, Summarize(p99s).Median
	return r, nil
}

// hotWorkload is one skew of workload (d).
type hotWorkload struct {
	name string
	load LoadSpec
}

func hotWorkloads() []hotWorkload {
	return []hotWorkload{
		{"uniform", LoadSpec{HotShare: 0, HotShareSet: true}},
		{"zipf-0.8", LoadSpec{Zipf: 0.8}},
		{"zipf-1.2", LoadSpec{Zipf: 1.2}},
		{"single-row", LoadSpec{Rows: 1, Tables: 1}},
	}
}

// hotMode is an ordering mode with destination pacing on or off.
type hotMode struct {
	ordering string
	pacing   bool
}

func (m hotMode) String() string {
	if m.pacing {
		return m.ordering
	}
	return m.ordering + ", pacing off"
}

// RunHotKeys is workload (d). The relay runs in-process (kinesisio.Relay
// with repartd run's defaults) so every PutRecords call can be timed to
// the microsecond: the strict-mode cap is 1 / round trip, and kinesalite
// answers small calls in well under the lag lines' 1 ms resolution. Each
// ordering runs with destination pacing on (the default: AWS's per-shard
// limit, which caps a hot row's shard) and off (the relay's own limits).
func (e *Env) RunHotKeys(ctx context.Context, ceiling float64) ([]HotKeyResult, error) {
	sz := e.Cfg.Sizes
	var out []HotKeyResult
	modes := []hotMode{{"strict", true}, {"replay", true}, {"strict", false}, {"replay", false}}
	uniform := map[hotMode]float64{}
	const destShards = 16
	for _, wl := range hotWorkloads() {
		if err := e.freshPair(ctx); err != nil {
			return out, err
		}
		src := e.StreamName("hot-src")
		if err := e.Create(ctx, false, src, 1); err != nil {
			return out, err
		}
		n := e.recordsFor(ceiling, sz.HotSeconds)
		load := wl.load
		load.Stream, load.Records = src, n
		if _, err := e.Load(ctx, load); err != nil {
			return out, fmt.Errorf("hot keys %s: %w", wl.name, err)
		}
		var share RowShare
		if _, _, err := ReadArrivals(ctx, e.Src, src, share.Add); err != nil {
			return out, err
		}
		hotPK, hotShare, shardShare := share.HottestPartitionKey(), share.Hottest(), share.HottestShardShare(destShards)
		type acc struct{ rates, puts, batch, hotRTT, hotOut, caps, ach, other []float64 }
		accs := map[hotMode]*acc{}
		byMode := map[hotMode]*HotKeyResult{}
		for _, m := range modes {
			accs[m] = &acc{}
			pacing := ""
			if !m.pacing {
				pacing = " --shard-records-per-s 0 --shard-bytes-per-s 0"
			}
			byMode[m] = &HotKeyResult{Workload: wl.name, Ordering: m.ordering, Pacing: m.pacing, HottestShare: Num(hotShare), HotShardShare: Num(shardShare),
				ShardCapPerS: Num(nanValue()), Records: n, LoadCommand: load.Display(),
				Command: fmt.Sprintf("in-process kinesisio.Relay with repartd run's defaults, --ordering MODE%s --stop-when-idle 2s, ≤ %s", pacing, sz.HotBound)}
			if m.pacing {
				byMode[m].ShardCapPerS = Num(Ratio(float64(kinesisio.DefaultConfig().ShardRecordsPerSec), shardShare))
			}
		}
		for rep := range e.Cfg.Reps {
			for _, m := range modes {
				if err := e.Target.FreshDest(ctx); err != nil {
					return out, err
				}
				dst := e.StreamName("hot-dst")
				if err := e.Create(ctx, true, dst, destShards); err != nil {
					return out, err
				}
				o, err := e.runInProcess(ctx, fmt.Sprintf("hot-%s-%s-%v-%d", wl.name, m.ordering, m.pacing, rep+1), src, dst, m, hotPK, sz.HotBound)
				if err != nil {
					return out, fmt.Errorf("hot keys %s %s: %w", wl.name, m, err)
				}
				a, h := accs[m], byMode[m]
				capRate := Ratio(1000/o.hotRTTMs, hotShare)
				a.rates, a.puts, a.batch = append(a.rates, o.recordsPerS), append(a.puts, o.putP50Ms), append(a.batch, o.meanBatch)
				a.hotRTT, a.hotOut = append(a.hotRTT, o.hotRTTMs), append(a.hotOut, o.hotShareOut)
				a.other = append(a.other, o.otherCores)
				if m.ordering == "strict" {
					a.caps, a.ach = append(a.caps, capRate), append(a.ach, o.hotBusy)
				}
				h.TimeBounded = append(h.TimeBounded, o.timedOut)
				h.HotMaxInFlight = max(h.HotMaxInFlight, o.hotMaxFlight)
				e.Logf("hot keys %s %s rep %d: %.0f records/s, %d calls of %.1f entries, put p50 %.2f ms, hot key rtt %.2f ms, %.0f%% of output, busy %.0f%%, ≤ %d calls at once → cap %.0f/s, bounded %v, other work %.2f cores",
					wl.name, m, rep+1, o.recordsPerS, o.calls, o.meanBatch, o.putP50Ms, o.hotRTTMs, 100*o.hotShareOut, 100*o.hotBusy, o.hotMaxFlight, capRate, o.timedOut, o.otherCores)
				e.Drop(ctx, true, dst)
			}
		}
		for _, m := range modes {
			a, h := accs[m], byMode[m]
			h.RecordsPerS, h.PutP50Ms, h.MeanBatch = Summarize(a.rates), Summarize(a.puts), Summarize(a.batch)
			h.HotRTTMs, h.HotShareOut, h.OtherCores = Summarize(a.hotRTT), Summarize(a.hotOut), Summarize(a.other)
			if m.ordering == "strict" {
				h.CapPerS, h.AchievedOverCap = Summarize(a.caps), Summarize(a.ach)
			}
			if wl.name == "uniform" {
				uniform[m] = h.RecordsPerS.Median
			}
			h.OfUniform = Num(Ratio(h.RecordsPerS.Median, uniform[m]))
			out = append(out, *h)
		}
	}
	return out, nil
}

// RunScaling is workload (e).
func (e *Env) RunScaling(ctx context.Context, ceiling float64) ([]ScalingResult, error) {
	sz := e.Cfg.Sizes
	var out []ScalingResult
	for _, ns := range sz.ScaleSources {
		if err := e.freshPair(ctx); err != nil {
			return out, err
		}
		src := e.StreamName(fmt.Sprintf("scale-src%d", ns))
		if err := e.Create(ctx, false, src, ns); err != nil {
			return out, err
		}
		keys, err := PartitionKeysPerShard(ctx, e.Src, src)
		if err != nil {
			return out, err
		}
		n := e.recordsFor(ceiling, sz.ScaleSeconds)
		per := max(n/ns, 100)
		n = per * ns
		g, gctx := errgroup.WithContext(ctx)
		for i, pk := range keys {
			l := LoadSpec{Stream: src, Records: per, Schema: fmt.Sprintf("shop%02d", i), Seed: uint64(i + 1), PartitionKey: pk}
			g.Go(func() error { _, err := e.Load(gctx, l); return err })
		}
		if err := g.Wait(); err != nil {
			return out, fmt.Errorf("scaling load into %d shards: %w", ns, err)
		}
		e.Logf("scaling: loaded %d records into %d source shards", n, ns)
		for _, nd := range sz.ScaleDests {
			sr := ScalingResult{SourceShards: ns, DestShards: nd, Records: n}
			var rates, cpus, rss, util, other []float64
			for rep := range e.Cfg.Reps {
				if err := e.Target.FreshDest(ctx); err != nil {
					return out, err
				}
				dst := e.StreamName(fmt.Sprintf("scale-dst%d", nd))
				if err := e.Create(ctx, true, dst, nd); err != nil {
					return out, err
				}
				spec := RelaySpec{Name: fmt.Sprintf("scale-%d-%d-%d", ns, nd, rep+1), Source: src, Dest: dst, StopWhenIdle: 2 * time.Second,
					Extra: []string{"--shard-records-per-s", "0", "--shard-bytes-per-s", "0"}}
				sr.Command = spec.Display()
				rl, err := e.StartRelay(ctx, spec)
				if err != nil {
					return out, err
				}
				o := rl.Finish(ctx, sz.ScaleBound)
				in := int64(0)
				if o.Stopped != nil {
					in = o.Stopped.RecordsIn
				}
				rate := Ratio(float64(in), o.Busy())
				if o.TimedOut || o.Stopped == nil {
					rate = WindowRate(o.Summaries)
					in = max(in, o.RecordsOut())
				}
				cpu1m := PerMillion(o.Usage.CPUSeconds, in)
				rates, cpus, rss = append(rates, rate), append(cpus, cpu1m), append(rss, float64(o.Usage.MaxRSSKiB)/1024)
				util, other = append(util, o.DstEmuCPU/o.Busy()), append(other, o.OtherCores)
				e.Logf("scaling %d → %d rep %d: %.0f records/s, %.1f CPU-s/1M, RSS %.0f MiB, other work %.2f cores (bounded %v)", ns, nd, rep+1, rate, cpu1m, float64(o.Usage.MaxRSSKiB)/1024, o.OtherCores, o.TimedOut)
				e.Drop(ctx, true, dst)
			}
			sr.RecordsPerS, sr.CPUSecPer1M, sr.PeakRSSMiB, sr.DestEmuCPU, sr.OtherCores = Summarize(rates), Summarize(cpus), Summarize(rss), Summarize(util), Summarize(other)
			out = append(out, sr)
		}
	}
	return out, nil
}

// RunMicro is the core micro-benchmarks, run by `go test`.
func (e *Env) RunMicro(ctx context.Context) (*MicroResult, error) {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(e.Cfg.Sizes.MicroCount)}
	if e.Cfg.Sizes.MicroBenchtime != "" {
		args = append(args, "-benchtime", e.Cfg.Sizes.MicroBenchtime)
	}
	args = append(args, "./repartition/")
	out, _, err := RunProc(ctx, "go", args, ProcOptions{Dir: e.Cfg.Repo})
	if err != nil {
		return nil, err
	}
	return &MicroResult{Command: "go " + strings.Join(args, " "), Benchmarks: ParseBench(string(out))}, nil
}

// ParseBench reads `go test -bench` output and summarizes each
// benchmark's metrics over its counts (the -N GOMAXPROCS suffix dropped).
func ParseBench(out string) []MicroBenchmark {
	type acc struct{ ns, rps, mbs, bop, aop, cpu []float64 }
	var order []string
	accs := map[string]*acc{}
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		a := accs[name]
		if a == nil {
			a = &acc{}
			accs[name] = a
			order = append(order, name)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				a.ns = append(a.ns, v)
			case "records/s":
				a.rps = append(a.rps, v)
			case "MB/s":
				a.mbs = append(a.mbs, v)
			case "B/op":
				a.bop = append(a.bop, v)
			case "allocs/op":
				a.aop = append(a.aop, v)
			case "cpu-s/1M":
				a.cpu = append(a.cpu, v)
			}
		}
	}
	var res []MicroBenchmark
	for _, n := range order {
		a := accs[n]
		res = append(res, MicroBenchmark{Name: n, NsPerOp: Summarize(a.ns), RecordsPerS: Summarize(a.rps), MBPerS: Summarize(a.mbs),
			BytesPerOp: Summarize(a.bop), AllocsPerOp: Summarize(a.aop), CPUSecPer1M: Summarize(a.cpu)})
	}
	return res
}
