package harness

import (
	"bytes"
	"context"
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"
)

// The pure parts of the harness: statistics, charts, parsers and the
// report. None of these tests starts an emulator.

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		name          string
		in            []float64
		med, min, max float64
		n             int
	}{
		{"odd", []float64{3, 1, 2}, 2, 1, 3, 3},
		{"even interpolates", []float64{4, 1, 2, 3}, 2.5, 1, 4, 4},
		{"one", []float64{7}, 7, 7, 7, 1},
		{"nan and inf ignored", []float64{math.NaN(), 5, math.Inf(1), 1}, 3, 1, 5, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Summarize(tc.in)
			if s.Median != tc.med || s.Min != tc.min || s.Max != tc.max || s.N != tc.n {
				t.Fatalf("Summarize(%v) = %+v, want median %v min %v max %v n %d", tc.in, s, tc.med, tc.min, tc.max, tc.n)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		if s := Summarize(nil); s.N != 0 || s.Values == nil {
			t.Fatalf("Summarize(nil) = %+v, want N 0 and an empty (non-nil) Values for JSON", s)
		}
	})
}

func TestPercentile_LinearBetweenRanks(t *testing.T) {
	sorted := []float64{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
	for p, want := range map[float64]float64{0: 10, 50: 55, 90: 91, 99: 99.1, 100: 100} {
		if got := Percentile(sorted, p); math.Abs(got-want) > 1e-9 {
			t.Errorf("p%v = %v, want %v", p, got, want)
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
}

func TestPerMillionAndRatio(t *testing.T) {
	if got := PerMillion(2.5, 500_000); got != 5 {
		t.Errorf("PerMillion = %v, want 5", got)
	}
	if !math.IsNaN(PerMillion(1, 0)) || !math.IsNaN(Ratio(1, 0)) {
		t.Error("division by zero should give NaN")
	}
}

func TestNiceTicks_RoundStepsCoverTop(t *testing.T) {
	for _, top := range []float64{0.7, 9, 13_456, 1_000_000, 250} {
		ticks := niceTicks(top, 5)
		if ticks[0] != 0 || ticks[len(ticks)-1] < top {
			t.Errorf("niceTicks(%v) = %v: must start at 0 and reach the top", top, ticks)
		}
		if len(ticks) > 12 {
			t.Errorf("niceTicks(%v): %d ticks, too many to read", top, len(ticks))
		}
	}
}

func TestFormatNumber(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.456: "0.46", 12.34: "12.3", 456.7: "457", 12_345: "12.3k", 1_234_567: "1.23M", math.NaN(): "n/a"} {
		if got := FormatNumber(v); got != want {
			t.Errorf("FormatNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

// wellFormed parses an SVG document as XML.
func wellFormed(t *testing.T, svg []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(svg))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return
			}
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, svg)
		}
	}
}

func TestChart_SVGIsWellFormedAndLabelled(t *testing.T) {
	for _, lines := range []bool{false, true} {
		c := Chart{
			Title: "Throughput <&> \"quoted\"", YLabel: "records/s", XLabel: "tool",
			Categories: []string{"raw", "repartd", "benthos"},
			Series: []Series{
				{Name: "median", Values: []float64{12_000, 11_000, math.NaN()}, Lo: []float64{11_500, 10_000, 0}, Hi: []float64{12_500, 11_200, 0}},
				{Name: "other", Values: []float64{1, 2, 3}},
			},
			RefLines: []RefLine{{Label: "goal", Value: 13_000}},
			Lines:    lines,
		}
		svg := c.SVG()
		wellFormed(t, svg)
		s := string(svg)
		for _, want := range []string{"Throughput &lt;&amp;&gt;", "repartd", "goal", "records/s"} {
			if !strings.Contains(s, want) {
				t.Errorf("lines=%v: SVG lacks %q", lines, want)
			}
		}
	}
}

func TestChart_EmptyStillRenders(t *testing.T) {
	wellFormed(t, Chart{Title: "nothing"}.SVG())
}

func TestParseBench_MediansPerBenchmark(t *testing.T) {
	out := `goos: linux
BenchmarkRoute/configured-2    	  578516	      2000 ns/op	 203.95 MB/s	    500000 records/s	       0 B/op	       0 allocs/op
BenchmarkRoute/configured-2    	  578516	      1000 ns/op	 203.95 MB/s	   1000000 records/s	       0 B/op	       0 allocs/op
BenchmarkRoute/configured-2    	  578516	      3000 ns/op	 203.95 MB/s	    333333 records/s	       0 B/op	       0 allocs/op
BenchmarkRouteEncodingJSON-2   	   39140	     39192 ns/op	  14.85 MB/s	     25515 records/s	    3432 B/op	      63 allocs/op
PASS
`
	got := ParseBench(out)
	if len(got) != 2 || got[0].Name != "BenchmarkRoute/configured" || got[1].Name != "BenchmarkRouteEncodingJSON" {
		t.Fatalf("ParseBench names = %+v", got)
	}
	if got[0].NsPerOp.Median != 2000 || got[0].RecordsPerS.Median != 500000 || got[0].NsPerOp.N != 3 {
		t.Errorf("configured: %+v", got[0])
	}
	if got[1].AllocsPerOp.Median != 63 || got[1].BytesPerOp.Median != 3432 {
		t.Errorf("encoding/json: %+v", got[1])
	}
}

func TestParseBench_CPUPerMillion(t *testing.T) {
	out := "BenchmarkRelay/uniform/latency20ms-2   1   1040000000 ns/op   0.00 MB/s   201000 records/s   6.50 cpu-s/1M   300000000 B/op   900000 allocs/op\n"
	got := ParseBench(out)
	if len(got) != 1 || got[0].Name != "BenchmarkRelay/uniform/latency20ms" || got[0].CPUSecPer1M.Median != 6.5 || got[0].RecordsPerS.Median != 201000 {
		t.Fatalf("ParseBench = %+v", got)
	}
	ip := InProcResult{Benchmarks: got}
	if ip.Benchmark("uniform/latency20ms") == nil || ip.Benchmark("uniform/latency20ms_fail30") != nil {
		t.Error("Benchmark looks cases up by their name under BenchmarkRelay/")
	}
}

func TestSlope_LeastSquares(t *testing.T) {
	if got := Slope([]float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}); math.Abs(got-2) > 1e-12 {
		t.Errorf("Slope = %v, want 2", got)
	}
	if !math.IsNaN(Slope([]float64{1}, []float64{1})) || !math.IsNaN(Slope([]float64{2, 2}, []float64{1, 3})) {
		t.Error("one point, or one distinct x: want NaN")
	}
}

func TestConfig_NeedsTarget(t *testing.T) {
	for _, tc := range []struct {
		only []string
		want bool
	}{{nil, true}, {[]string{"inproc"}, false}, {[]string{"micro", "inproc"}, false}, {[]string{"inproc", "relay"}, true}} {
		if got := (Config{Mode: "bench", Only: tc.only}).NeedsTarget(); got != tc.want {
			t.Errorf("only %v: NeedsTarget = %v, want %v", tc.only, got, tc.want)
		}
	}
}

// TestRunSoak_ShortRunChecksOrderAndSamples runs a tiny soak: the relay,
// the fake, the generator and the checker together, in process.
func TestRunSoak_ShortRunChecksOrderAndSamples(t *testing.T) {
	cfg := DefaultSoakConfig()
	cfg.Duration, cfg.Sample, cfg.Maintain = 2*time.Second, 500*time.Millisecond, 200*time.Millisecond
	cfg.Rows, cfg.Templates, cfg.MaxBacklog, cfg.FailRate = 2_000, 2_000, 20_000, 0.3
	res, err := RunSoak(context.Background(), cfg, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered == 0 || res.OrderViolations != 0 || res.Missing != 0 || res.KeyConflicts != 0 || res.Duplicates != 0 {
		t.Fatalf("soak: %d delivered, %d violations, %d missing, %d key conflicts, %d duplicates", res.Delivered, res.OrderViolations, res.Missing, res.KeyConflicts, res.Duplicates)
	}
	if len(res.Samples) < 3 || !(res.RSSFirstMiB > 0) || res.Trimmed == 0 {
		t.Fatalf("soak: %d samples, first RSS %v MiB, %d trimmed", len(res.Samples), res.RSSFirstMiB, res.Trimmed)
	}
}

func TestPutStamp_RightAlignedSpacePadded(t *testing.T) {
	b := []byte("xxxxxxx")
	putStamp(b, 4021)
	if string(b) != "   4021" {
		t.Errorf("putStamp = %q", b)
	}
	if n, ok := TransactionID([]byte(`{"transaction-id":` + string(b) + `,"x":1}`)); !ok || n != 4021 {
		t.Errorf("TransactionID = %d, %v", n, ok)
	}
}

func TestParsePprofTop(t *testing.T) {
	out := `File: harness
Type: cpu
Showing nodes accounting for 2.50s, 95.06% of 2.63s total
      flat  flat%   sum%        cum   cum%
     0.50s 19.01% 19.01%      0.90s 34.22%  runtime.memmove
      10ms  0.38% 19.39%      1.20mins 45.00%  github.com/repartd/repartd/repartition.(*Router).Route (inline)
`
	flat := ParsePprofTop(out, false)
	if len(flat) != 2 || flat[0].Name != "runtime.memmove" || flat[0].Seconds != 0.5 || flat[1].Seconds != 0.01 {
		t.Fatalf("flat = %+v", flat)
	}
	if flat[1].Name != "github.com/repartd/repartd/repartition.(*Router).Route (inline)" {
		t.Errorf("name with spaces: %q", flat[1].Name)
	}
	cum := ParsePprofTop(out, true)
	if cum[1].Seconds != 72 || cum[1].Percent != 45 {
		t.Errorf("cum = %+v", cum)
	}
	groups := GroupProfile(flat)
	if groups[0].Name != "memory copies and compares (memmove, memeq)" || groups[1].Name != "repartd core (repartition: scan, key, hash, scheduler)" {
		t.Errorf("groups = %+v", groups)
	}
	entries := EntryProfile(flat, cum)
	if len(entries) != 1 || entries[0].Seconds != 72 || !strings.HasPrefix(entries[0].Name, "routing") {
		t.Errorf("entries = %+v", entries)
	}
}

func TestWindowRate_SkipsWarmUp(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ls []LogLine
	for i, out := range []int64{0, 0, 500, 1500, 2500, 3500, 4500} {
		ls = append(ls, LogLine{Time: t0.Add(time.Duration(i) * time.Second), TotalRecordsOut: out})
	}
	// From the line after the first with output (1500 at 3 s) to the last (4500 at 6 s).
	if got := WindowRate(ls); got != 1000 {
		t.Fatalf("WindowRate = %v, want 1000", got)
	}
	if !math.IsNaN(WindowRate(ls[:2])) {
		t.Error("no output: want NaN")
	}
}

func TestLatencies_MatchFirstDelivery(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := []Arrival{{Hash: 1, Arrived: t0}, {Hash: 2, Arrived: t0.Add(10 * time.Millisecond)}, {Hash: 3, Arrived: t0}}
	dst := []Arrival{{Hash: 2, Arrived: t0.Add(200 * time.Millisecond)}, {Hash: 1, Arrived: t0.Add(150 * time.Millisecond)}, {Hash: 1, Arrived: t0.Add(100 * time.Millisecond)}}
	got := Latencies(src, dst)
	if len(got) != 2 || got[0] != 100 || got[1] != 190 {
		t.Fatalf("Latencies = %v, want [100 190] (first copy; unmatched dropped)", got)
	}
	n, perS := ArrivalSpan(dst)
	if n != 3 || math.Abs(perS-30) > 1e-9 {
		t.Fatalf("ArrivalSpan = %d, %v; want 3 records over 100 ms = 30/s", n, perS)
	}
}

func TestRowShare_HottestKeyIsContractKey(t *testing.T) {
	var r RowShare
	row := func(id string) []byte {
		return []byte(`{"data":{"id":` + id + `},"metadata":{"record-type":"data","operation":"update","schema-name":"shop","table-name":"orders"}}`)
	}
	r.Add([]byte(`{"control":{},"metadata":{"record-type":"control","operation":"create-table","schema-name":"shop","table-name":"orders"}}`))
	r.Add(row("1"))
	r.Add(row("7"))
	r.Add(row("7"))
	if got := r.Hottest(); got != 0.5 {
		t.Errorf("Hottest = %v, want 2 of 4 records", got)
	}
	// XXH64("shop\x00orders\x007"), as repartd route prints it.
	if got := r.HottestPartitionKey(); len(got) != 16 {
		t.Errorf("HottestPartitionKey = %q, want 16 hex digits", got)
	}
}

func TestLoadSpec_Display(t *testing.T) {
	l := LoadSpec{Stream: "rb-1-src", Records: 1000, Zipf: 1.2, PartitionKey: "DMSTASK-3", Schema: "shop03"}
	if got, want := l.Display(), "repartd load --stream SRC --records 1000 --zipf 1.2 --schema SCHEMA --partition-key PK"; got != want {
		t.Errorf("Display = %q, want %q", got, want)
	}
	if got := l.args(); got[2] != "rb-1-src" {
		t.Errorf("args use the real stream: %v", got)
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := Config{Mode: "bench", Reps: 3, Repo: "/r"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{Mode: "x", Reps: 1, Only: []string{"nope"}, Endpoint: "aws"}
	err := bad.Validate()
	for _, want := range []string{"mode", "reps 1", "only", "repo"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
	if got := (Config{Mode: "bench", Endpoint: "http://x", Label: "kinesis-local", Quick: true}).ResultsName(); got != "endpoint-kinesis-local-quick" {
		t.Errorf("ResultsName = %q", got)
	}
	if got := LabelFor("http://127.0.0.1:4566"); got != "127-0-0-1-4566" {
		t.Errorf("LabelFor = %q", got)
	}
}

// sampleResults is a complete set of results files, as the harness writes
// them, with made-up figures.
func sampleResults() []*Results {
	s := func(v ...float64) Summary { return Summarize(v) }
	meta := func(name, cmd string) Meta {
		return Meta{Name: name, Command: cmd, Commit: "0123456789abcdef0123", Dirty: true, Reps: 3,
			Date: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), TargetLabel: "kinesalite",
			Machine: Machine{Cores: 2, MemoryGiB: 23.4, CPUModel: "Test CPU", Kernel: "6.1", OS: "linux"}}
	}
	bench := &Results{
		Meta:    meta("bench", "make bench"),
		Ceiling: &CeilingResult{Command: "loop", DestShards: 16, BatchRecords: 500, RecordBytes: 546, Callers: 4, RecordsPerS: s(12000, 11000, 13000), Tuning: []TunePoint{{Setting: 1, RecordsPerS: 9000}, {Setting: 4, RecordsPerS: 12000}}},
		Relay: &RelayResult{Command: "repartd run", DestShards: 16, Records: 240000, RecordsPerBusyS: s(10000, 9000, 11000), CPUSecPer1M: s(30, 29, 31),
			PeakRSSMiB: s(60, 55, 70), OrderViolations: []int{0, 0, 0}, Missing: []int{0, 0, 0}, Duplicates: []int{0, 0, 0}, DestShardRecords: []int{10, 12, 11, 9}},
		Latency: []LatencyResult{{OfferedPerS: 1000, P50Ms: s(120, 110, 130), P99Ms: s(300, 290, 310), MaxMs: s(350)},
			{OfferedPerS: 10000, Skipped: "above 90% of the ceiling"}},
		HotKeys: []HotKeyResult{
			{Workload: "uniform", Ordering: "strict", Pacing: true, RecordsPerS: s(10000), CapPerS: s(1e6), AchievedOverCap: s(0.01), OfUniform: 1, ShardCapPerS: 15000},
			{Workload: "zipf-1.2", Ordering: "strict", Pacing: true, HottestShare: 0.2, RecordsPerS: s(3000), CapPerS: s(3100), AchievedOverCap: s(0.97), OfUniform: 0.3, ShardCapPerS: 4000},
			{Workload: "uniform", Ordering: "replay", Pacing: true, RecordsPerS: s(10000), OfUniform: 1},
			{Workload: "zipf-1.2", Ordering: "replay", Pacing: true, RecordsPerS: s(8500), OfUniform: 0.85},
			{Workload: "zipf-1.2", Ordering: "strict", HottestShare: 0.2, RecordsPerS: s(3000), CapPerS: s(3100), AchievedOverCap: s(0.97, 0.95, 0.98), OfUniform: 0.3},
			{Workload: "zipf-1.2", Ordering: "replay", RecordsPerS: s(8500), OfUniform: 0.5},
		},
		Scaling: []ScalingResult{{SourceShards: 1, DestShards: 4, RecordsPerS: s(9000), CPUSecPer1M: s(30)}, {SourceShards: 4, DestShards: 16, RecordsPerS: s(11000), CPUSecPer1M: s(28)}},
		Micro: &MicroResult{Command: "go test", Benchmarks: []MicroBenchmark{
			{Name: "BenchmarkRoute/configured", RecordsPerS: s(1.2e6), AllocsPerOp: s(0)},
			{Name: "BenchmarkRouteEncodingJSON", RecordsPerS: s(25000), AllocsPerOp: s(63)},
		}},
		Profile: &ProfileResult{Command: "in-process", Records: 1000, Flat: []ProfileEntry{{Name: "runtime.memmove", Seconds: 1, Percent: 10}}, Groups: []ProfileEntry{{Name: "runtime", Seconds: 1, Percent: 10}}},
		InProc: &InProcResult{Command: "go test -bench Relay/uniform", SoakCommand: "go run ./bench/cmd/soak", SoakPeakRSSMiB: 500,
			Benchmarks: []MicroBenchmark{
				{Name: "BenchmarkRelay/uniform/latency20ms", RecordsPerS: s(250000, 240000, 260000), CPUSecPer1M: s(7.5)},
				{Name: "BenchmarkRelay/uniform/latency20ms_fail30", RecordsPerS: s(150000), CPUSecPer1M: s(9)},
			},
			Soak: &SoakResult{Command: "go run ./bench/cmd/soak --duration 10m0s", DurationS: 600, RecordsPerS: 180000, Delivered: 108_000_000,
				RSSFirstMiB: 400, RSSLastMiB: 410, RSSMaxMiB: 430, RSSSlopeMiBPerMin: 0.25, HeapSlopeMiBPerMin: -0.1,
				Samples: []SoakSample{{T: 5, RSSMiB: 400, HeapMiB: 300, HeapLiveMiB: 200}, {T: 10, RSSMiB: 405, HeapMiB: 310, HeapLiveMiB: 210}, {T: 600, RSSMiB: 410, HeapMiB: 305, HeapLiveMiB: 205}}}},
		Errors: []string{"scaling: something broke"},
	}
	peers := &Results{
		Meta: meta("peers", "make bench-peers"),
		Peers: &PeersResult{BenthosVersion: "v4.27.0", Config: "input: {}\n", Records: 120000, SourceShards: 1, DestShards: 16, MaxInFlight: 64,
			Tools:  []ToolResult{{Tool: "repartd", ArrivalPerS: s(9000), CPUSecPer1M: s(30), CPUSecPer1MRelaying: s(20)}, {Tool: "benthos", ArrivalPerS: s(5000), CPUSecPer1M: s(180), CPUSecPer1MRelaying: s(120)}},
			Faults: []FaultResult{{Tool: "repartd", Fault: "30% throttled"}, {Tool: "benthos", Fault: "30% throttled", OrderViolations: 45}}},
	}
	ep := &Results{Meta: meta("endpoint-kinesis-local", "make bench ENDPOINT=http://127.0.0.1:4568 BENCH_LABEL=kinesis-local"),
		Ceiling: &CeilingResult{Callers: 1, DestShards: 16, RecordsPerS: s(1400)}}
	ep.Meta.Target, ep.Meta.TargetLabel = "http://127.0.0.1:4568", "kinesis-local"
	return []*Results{ep, peers, bench}
}

func TestRender_FullReport(t *testing.T) {
	rep := Render(sampleResults(), RenderOptions{ChartPrefix: "results/"})
	md := string(rep.Markdown)
	for _, want := range []string{
		"# repartd benchmark results",
		"**These machines are noisy.**",
		"`make bench` · commit `0123456789ab + uncommitted changes` · 2026-11-26 12:00 UTC · 2 cores (Test CPU), 23.4 GiB",
		"| 3. kinesalite 1 → 16: repartd vs raw PutRecords loop (same destination emulator) | ≥ 90% | 10k vs 12k records/s = 83.3% | **no** |",
		"| 3. CPU-seconds per 1M records, Benthos ÷ repartd (same run; while relaying, and whole process) | ≥ 5× | 120 ÷ 20 = 6× while relaying; whole process 180 ÷ 30 = 6× | yes |",
		"| 1. core: allocations per record (every BenchmarkRoute case) | 0 | 0 allocs/op (max) | yes |",
		"| 5. replay, Zipf 1.2 ÷ uniform | ≥ 80% | 85.0% | yes |",
		"| 5. replay, pacing off, Zipf 1.2 ÷ uniform | ≥ 80% | 50.0% | **no** |",
		"| 5. strict (pacing off), zipf-1.2: hottest key's pipe busy = achieved ÷ RTT cap | ≥ 90% | 97.0% (95.0%–98.0%) (cap 3100 records/s, 3000 achieved) | yes |",
		"skipped: above 90% of the ceiling",
		"| 2. whole process on an in-process fake Kinesis (20 ms per PutRecords; BenchmarkRelay/uniform/latency20ms) | ≥ 200,000 records/s | 250k (240k–260k) records/s, 7.5 CPU-s per 1M records | yes |",
		"| 2. whole process on an in-process fake Kinesis (20 ms, 30% of entries failed, order verified; BenchmarkRelay/uniform/latency20ms_fail30) | ≥ 200,000 records/s | 150k records/s, 9 CPU-s per 1M records | **no** |",
		"| 2. RSS flat over a 10m0s run (soak, 180k records/s, 20 ms per PutRecords) | no rise: the second half's RSS slope × 10 min ≤ 5.0% of the median RSS | RSS 400 → 410 MiB (median 405, second half 405–410), slope +0.25 MiB/min = 0.62% per 10 min; 0 order violations | yes |",
		"## Target 2: the whole relay on an in-process fake Kinesis",
		"| `uniform/latency20ms_fail30` | 150k | 9 |",
		"![records per second by tool](results/bench-throughput.svg)",
		"12k (11k–13k)",
		"## Benthos side by side",
		"```yaml\ninput: {}\n```",
		"## Existing endpoint: kinesis-local",
		"## Errors during the runs",
		"scaling: something broke",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, name := range []string{"bench-throughput.svg", "bench-cpu.svg", "bench-latency.svg", "bench-dest-shards.svg", "bench-hotkeys.svg",
		"bench-scaling-throughput.svg", "bench-scaling-cpu.svg", "bench-micro.svg", "bench-ceiling-tuning.svg", "bench-inproc-memory.svg", "peers-throughput.svg", "peers-cpu.svg"} {
		svg, ok := rep.Charts[name]
		if !ok {
			t.Errorf("chart %s missing", name)
			continue
		}
		wellFormed(t, svg)
		if !strings.Contains(md, "results/"+name) {
			t.Errorf("report does not embed %s", name)
		}
	}
}

func TestRender_Deterministic(t *testing.T) {
	a := Render(sampleResults(), RenderOptions{})
	b := Render(sampleResults(), RenderOptions{})
	if !bytes.Equal(a.Markdown, b.Markdown) {
		t.Fatal("the same results must render the same report")
	}
	for name, svg := range a.Charts {
		if !bytes.Equal(svg, b.Charts[name]) {
			t.Fatalf("chart %s differs between renders", name)
		}
	}
}

func TestRender_NothingYet(t *testing.T) {
	md := string(Render(nil, RenderOptions{}).Markdown)
	if !strings.Contains(md, "# repartd benchmark results") {
		t.Fatalf("empty report: %s", md)
	}
}

func TestResults_JSONRoundTripKeepsMissingFigures(t *testing.T) {
	all := sampleResults()
	bench := all[2]
	bench.HotKeys[0].ShardCapPerS = Num(math.NaN())
	bench.HotKeys[1].OfUniform = Num(math.Inf(1))
	dir := t.TempDir()
	if _, err := bench.WriteJSON(dir); err != nil {
		t.Fatalf("WriteJSON with NaN figures: %v", err)
	}
	back, err := ReadResults(dir)
	if err != nil || len(back) != 1 {
		t.Fatalf("ReadResults = %d results, %v", len(back), err)
	}
	h := back[0].HotKeys
	if !math.IsNaN(float64(h[0].ShardCapPerS)) || !math.IsNaN(float64(h[1].OfUniform)) || h[1].RecordsPerS.Median != 3000 {
		t.Fatalf("round trip: %+v", h[:2])
	}
}

func TestResults_MergeKeepsOtherSectionsAndNamesTheRerun(t *testing.T) {
	all := sampleResults()
	bench := all[2]
	part := &Results{Meta: Meta{Name: "bench", Command: "make bench BENCH_ONLY=latency", Commit: "fedcba9876543210", Date: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)},
		Latency: []LatencyResult{{OfferedPerS: 5000, P50Ms: Summarize([]float64{140})}}, Timings: map[string]float64{"latency": 99}}
	bench.Merge(part, []string{"latency"})
	if len(bench.Latency) != 1 || bench.Latency[0].OfferedPerS != 5000 || bench.Relay == nil || bench.Timings["latency"] != 99 {
		t.Fatalf("merge: latency %+v, relay kept %v", bench.Latency, bench.Relay != nil)
	}
	if m := bench.SectionMeta("latency"); m.Command != "make bench BENCH_ONLY=latency" || m.Commit != "fedcba9876543210" {
		t.Errorf("latency meta = %+v", m)
	}
	if m := bench.SectionMeta("relay"); m.Command != "make bench" {
		t.Errorf("relay meta = %+v", m)
	}
	md := string(Render(all, RenderOptions{}).Markdown)
	if !strings.Contains(md, "`results/bench.json`: latency re-run | `make bench BENCH_ONLY=latency`") || !strings.Contains(md, "*`make bench BENCH_ONLY=latency` · commit `fedcba987654`") {
		t.Errorf("report does not name the rerun")
	}
}
