package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Results is one harness run, written as bench/results/NAME.json. Every
// figure in it comes from that run, on the machine and commit in Meta.
// Fields are only ever added.
type Results struct {
	Meta    Meta               `json:"meta"`
	Ceiling *CeilingResult     `json:"ceiling,omitempty"`
	Relay   *RelayResult       `json:"relay,omitempty"`
	Latency []LatencyResult    `json:"latency,omitempty"`
	HotKeys []HotKeyResult     `json:"hot_keys,omitempty"`
	Scaling []ScalingResult    `json:"scaling,omitempty"`
	Micro   *MicroResult       `json:"micro,omitempty"`
	Profile *ProfileResult     `json:"profile,omitempty"`
	Peers   *PeersResult       `json:"peers,omitempty"`
	InProc  *InProcResult      `json:"inproc,omitempty"`
	Errors  []string           `json:"errors,omitempty"`
	Timings map[string]float64 `json:"timings_s,omitempty"` // wall seconds per workload
	// Reruns are later runs of some workloads (--only) merged into this
	// file: their sections carry the rerun's command, commit and date.
	Reruns []Rerun `json:"reruns,omitempty"`
}

// Rerun is a later run of some workloads, merged into a results file.
type Rerun struct {
	Sections     []string  `json:"sections"`
	Command      string    `json:"command"`
	Commit       string    `json:"commit"`
	Dirty        bool      `json:"dirty"`
	Date         time.Time `json:"date"`
	WallS        float64   `json:"wall_s"`
	LoadAvgStart Num       `json:"loadavg_start"`
	LoadAvgEnd   Num       `json:"loadavg_end"`
}

// SectionMeta is the Meta that produced a section: the file's, or that of
// the latest rerun of the section.
func (r *Results) SectionMeta(section string) Meta {
	m := r.Meta
	for _, rr := range r.Reruns {
		for _, s := range rr.Sections {
			if s == section {
				m.Command, m.Commit, m.Dirty, m.Date = rr.Command, rr.Commit, rr.Dirty, rr.Date
			}
		}
	}
	return m
}

// Merge copies the sections of a partial run (--only) into r and records
// the rerun.
func (r *Results) Merge(part *Results, sections []string) {
	for _, s := range sections {
		switch s {
		case "ceiling":
			r.Ceiling = part.Ceiling
		case "relay":
			r.Relay = part.Relay
			if part.Ceiling != nil {
				r.Ceiling = part.Ceiling // its repetitions run inside the relay step
			}
		case "latency":
			r.Latency = part.Latency
		case "hotkeys":
			r.HotKeys = part.HotKeys
		case "scaling":
			r.Scaling = part.Scaling
		case "micro":
			r.Micro = part.Micro
		case "profile":
			r.Profile = part.Profile
		case "peers":
			r.Peers = part.Peers
		case "inproc":
			r.InProc = part.InProc
		}
		if t, ok := part.Timings[s]; ok {
			if r.Timings == nil {
				r.Timings = map[string]float64{}
			}
			r.Timings[s] = t
		}
	}
	r.Errors = append(r.Errors, part.Errors...)
	m := part.Meta
	r.Reruns = append(r.Reruns, Rerun{Sections: sections, Command: m.Command, Commit: m.Commit, Dirty: m.Dirty, Date: m.Date,
		WallS: m.WallS, LoadAvgStart: m.LoadAvgStart, LoadAvgEnd: m.LoadAvgEnd})
}

// Meta names what produced the figures.
type Meta struct {
	Name      string    `json:"name"`    // results file stem: bench, peers, endpoint-kinesis-local
	Command   string    `json:"command"` // what a user types to reproduce it
	Args      []string  `json:"args"`    // the harness's own arguments
	Commit    string    `json:"commit"`  // git HEAD
	Dirty     bool      `json:"dirty"`   // the work tree had uncommitted changes
	Date      time.Time `json:"date"`
	Machine   Machine   `json:"machine"`
	GoVersion string    `json:"go_version"`
	Quick     bool      `json:"quick"`
	Reps      int       `json:"reps"`
	// Target says where the streams lived: "kinesalite" (two local
	// processes, source and destination), or an endpoint URL, or "aws".
	Target      string  `json:"target"`
	TargetLabel string  `json:"target_label"`
	WallS       float64 `json:"wall_s"`
	// LoadAvg is /proc/loadavg's 1-minute figure at the start and the end:
	// other work on the machine shows here.
	LoadAvgStart Num `json:"loadavg_start"`
	LoadAvgEnd   Num `json:"loadavg_end"`
}

// Machine describes the host.
type Machine struct {
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memory_gib"`
	CPUModel  string  `json:"cpu_model"`
	Kernel    string  `json:"kernel"`
	OS        string  `json:"os"`
	Node      string  `json:"node,omitempty"` // Node.js version running the emulators
}

// CeilingResult is the raw PutRecords loop against the destination
// emulator: what the emulator takes when nothing else runs.
type CeilingResult struct {
	Command      string      `json:"command"`
	DestShards   int         `json:"dest_shards"`
	BatchRecords int         `json:"batch_records"`
	RecordBytes  int         `json:"record_bytes"`
	Records      int         `json:"records"` // cap per run
	MaxSeconds   float64     `json:"max_s"`   // time cap per run
	Tuning       []TunePoint `json:"tuning"`  // callers → records/s (one run each)
	Callers      int         `json:"callers"` // best, used for the repetitions
	RecordsPerS  Summary     `json:"records_per_s"`
	EmulatorCPU  Summary     `json:"emulator_cpu_util"` // destination emulator CPU-seconds per wall second
	CPUSecPer1M  Summary     `json:"cpu_s_per_1m"`
	OtherCores   Summary     `json:"other_cores"` // CPU the rest of the machine used meanwhile      // the loop's own CPU (the harness process): the SDK's write cost
}

// TunePoint is one setting of a tuned parameter and what it gave.
type TunePoint struct {
	Setting     int    `json:"setting"`
	Label       string `json:"label,omitempty"`
	RecordsPerS Num    `json:"records_per_s"`
	CPUSecPer1M Num    `json:"cpu_s_per_1m,omitempty"`
}

// RelayResult is workload (b): a pre-loaded 1-shard source relayed to a
// 16-shard destination by `repartd run --stop-when-idle`.
type RelayResult struct {
	Command          string  `json:"command"`
	LoadCommand      string  `json:"load_command"`
	SourceShards     int     `json:"source_shards"`
	DestShards       int     `json:"dest_shards"`
	Records          int     `json:"records"`
	RecordBytes      int     `json:"record_bytes"`
	RecordsPerBusyS  Summary `json:"records_out_per_busy_s"` // repartd's own "relay stopped" figure
	ArrivalPerS      Summary `json:"arrival_records_per_s"`  // destination arrivals / (last − first arrival)
	CPUSecPer1M      Summary `json:"cpu_s_per_1m"`
	PeakRSSMiB       Summary `json:"peak_rss_mib"`
	PutP50Ms         Summary `json:"put_p50_ms"`
	SourceEmuCPU     Summary `json:"source_emulator_cpu_util"`
	OtherCores       Summary `json:"other_cores"`  // CPU the rest of the machine used meanwhile
	PairedRatio      Summary `json:"paired_ratio"` // each repetition ÷ the raw-loop run just before it
	DestEmuCPU       Summary `json:"dest_emulator_cpu_util"`
	OrderViolations  []int   `json:"order_violations"`
	Missing          []int   `json:"missing"`
	Duplicates       []int   `json:"duplicates"`
	DestShardRecords []int   `json:"dest_shard_records"` // last repetition
	VerifyCommand    string  `json:"verify_command"`
	// Variants are the same workload with other flags (e.g. pacing off).
	Variants []RelayVariant `json:"variants,omitempty"`
}

// RelayVariant is workload (b) with extra flags.
type RelayVariant struct {
	Name            string  `json:"name"`
	Flags           string  `json:"flags"`
	RecordsPerBusyS Summary `json:"records_out_per_busy_s"`
	CPUSecPer1M     Summary `json:"cpu_s_per_1m"`
	PeakRSSMiB      Summary `json:"peak_rss_mib"`
}

// LatencyResult is workload (c) at one offered load.
type LatencyResult struct {
	Command     string  `json:"command"`
	OfferedPerS int     `json:"offered_per_s"`
	Records     int     `json:"records"`
	Skipped     string  `json:"skipped,omitempty"`  // why this load was not run
	Saturated   bool    `json:"saturated"`          // offered > 90% of the measured ceiling
	AchievedIn  Summary `json:"load_records_per_s"` // what `repartd load --rate` achieved
	P50Ms       Summary `json:"p50_ms"`
	P90Ms       Summary `json:"p90_ms"`
	P99Ms       Summary `json:"p99_ms"`
	MaxMs       Summary `json:"max_ms"`
	Matched     []int   `json:"matched"`     // source records found in the destination, per repetition
	OtherCores  Summary `json:"other_cores"` // CPU the rest of the machine used meanwhile
	// PutP50Ms and PutP99Ms are the relay's PutRecords round trips (its lag
	// lines, medians over the run): the destination's share of the latency.
	PutP50Ms Summary `json:"put_p50_ms"`
	PutP99Ms Summary `json:"put_p99_ms"`
}

// HotKeyResult is workload (d): one skew under one ordering mode.
type HotKeyResult struct {
	Command     string `json:"command"`
	LoadCommand string `json:"load_command"`
	Workload    string `json:"workload"` // uniform, zipf-0.8, zipf-1.2, single-row
	Ordering    string `json:"ordering"`
	// Pacing says whether destination pacing was on (1,000 records/s and
	// 1 MiB/s per shard, repartd's default and AWS's limit) or off.
	Pacing bool `json:"pacing"`
	// HotShardShare is the largest share of the records one destination
	// shard gets; with pacing, ShardCapPerS = 1000 / HotShardShare bounds
	// the whole workload.
	HotShardShare Num     `json:"hot_shard_share"`
	ShardCapPerS  Num     `json:"shard_cap_per_s"`
	HottestShare  Num     `json:"hottest_share"` // measured on the loaded records
	Records       int     `json:"records"`
	RecordsPerS   Summary `json:"records_per_s"`
	PutP50Ms      Summary `json:"put_p50_ms"`    // every PutRecords call, timed by the harness
	MeanBatch     Summary `json:"mean_batch"`    // entries per call
	HotRTTMs      Summary `json:"hot_rtt_ms"`    // mean round trip of the calls carrying the hottest key
	HotShareOut   Summary `json:"hot_share_out"` // hottest key's share of what was written
	// Strict mode only: CapPerS = (1000 / HotRTTMs) / HottestShare, the
	// steady rate at which the hottest key always has a record in flight,
	// and AchievedOverCap = the hottest key's records acknowledged per
	// second × HotRTTMs: the share of the run its pipe was busy, which
	// equals RecordsPerS / CapPerS in steady state.
	CapPerS         Summary `json:"cap_per_s"`
	AchievedOverCap Summary `json:"achieved_over_cap"`
	OfUniform       Num     `json:"of_uniform"` // median / same mode's uniform median
	TimeBounded     []bool  `json:"time_bounded"`
	// HotMaxInFlight is the most PutRecords calls carrying the hottest key
	// at once over the repetitions: 1 in strict mode, or the key had two
	// records unacknowledged.
	HotMaxInFlight int     `json:"hot_max_in_flight"`
	OtherCores     Summary `json:"other_cores"` // CPU the rest of the machine used meanwhile
}

// ScalingResult is workload (e): one source × destination shard count.
type ScalingResult struct {
	Command      string  `json:"command"`
	SourceShards int     `json:"source_shards"`
	DestShards   int     `json:"dest_shards"`
	Records      int     `json:"records"`
	RecordsPerS  Summary `json:"records_out_per_busy_s"`
	CPUSecPer1M  Summary `json:"cpu_s_per_1m"`
	PeakRSSMiB   Summary `json:"peak_rss_mib"`
	DestEmuCPU   Summary `json:"dest_emulator_cpu_util"`
	OtherCores   Summary `json:"other_cores"`
}

// MicroResult is `go test -bench` over the core.
type MicroResult struct {
	Command    string           `json:"command"`
	Benchmarks []MicroBenchmark `json:"benchmarks"`
}

// MicroBenchmark is one benchmark's medians over its counts.
type MicroBenchmark struct {
	Name        string  `json:"name"`
	NsPerOp     Summary `json:"ns_per_op"`
	RecordsPerS Summary `json:"records_per_s"`
	MBPerS      Summary `json:"mb_per_s"`
	BytesPerOp  Summary `json:"bytes_per_op"`
	AllocsPerOp Summary `json:"allocs_per_op"`
	CPUSecPer1M Summary `json:"cpu_s_per_1m"` // a "cpu-s/1M" metric, if reported
}

// ProfileResult is a CPU profile of the relay run in-process on workload (b).
type ProfileResult struct {
	Command     string         `json:"command"`
	Records     int            `json:"records"`
	RecordsPerS Num            `json:"records_per_s"`
	CPUSeconds  float64        `json:"cpu_s"`
	Seconds     float64        `json:"seconds"`
	Flat        []ProfileEntry `json:"flat"` // top functions by own time
	Cum         []ProfileEntry `json:"cum"`  // top functions including callees
	Groups      []ProfileEntry `json:"groups"`
	Entries     []ProfileEntry `json:"entries"` // cumulative time of the main jobs
	File        string         `json:"file"`    // the .prof, outside git
}

// ProfileEntry is one line of a profile summary.
type ProfileEntry struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	Percent float64 `json:"percent"`
}

// PeersResult is `make bench-peers`: Benthos and repartd side by side.
type PeersResult struct {
	BenthosVersion string        `json:"benthos_version"`
	BenthosBuild   string        `json:"benthos_build"`
	Config         string        `json:"config"` // the YAML used for the measured runs
	Records        int           `json:"records"`
	SourceShards   int           `json:"source_shards"`
	DestShards     int           `json:"dest_shards"`
	Tuning         []TunePoint   `json:"tuning"` // max_in_flight → records/s
	MaxInFlight    int           `json:"max_in_flight"`
	InputBatch     int           `json:"input_batch"` // 0: no input batching
	Tools          []ToolResult  `json:"tools"`
	Faults         []FaultResult `json:"faults"`
	Notes          []string      `json:"notes,omitempty"`
}

// ToolResult is one tool's throughput and cost on the same workload.
type ToolResult struct {
	Tool        string  `json:"tool"`
	Command     string  `json:"command"`
	ArrivalPerS Summary `json:"arrival_records_per_s"`
	CPUSecPer1M Summary `json:"cpu_s_per_1m"` // whole process, start to exit
	// CPUSecPer1MRelaying is the CPU between the first and the last
	// destination arrival, per 1M records delivered: no start-up, no idle
	// wait before exit.
	CPUSecPer1MRelaying Summary `json:"cpu_s_per_1m_relaying"`
	PeakRSSMiB          Summary `json:"peak_rss_mib"`
	OtherCores          Summary `json:"other_cores"`
	Delivered           []int   `json:"delivered"`
	// Order without injected faults, per repetition (repartd verify
	// --key '*.*=id' --order both).
	OrderViolations     []int  `json:"order_violations"`
	LastOrderViolations []int  `json:"last_order_violations"`
	TimedOut            []bool `json:"timed_out"`
}

// FaultResult is one tool under injected partial PutRecords failures,
// judged by `repartd verify`.
type FaultResult struct {
	Tool                string  `json:"tool"`
	Fault               string  `json:"fault"`
	Command             string  `json:"command"`
	VerifyCommand       string  `json:"verify_command"`
	Seconds             float64 `json:"seconds"`
	TimedOut            bool    `json:"timed_out"`
	SourceRecords       int     `json:"source_records"`
	DestRecords         int     `json:"dest_records"`
	Missing             int     `json:"missing"`
	Duplicates          int     `json:"duplicates"`
	OrderViolations     int     `json:"order_violations"`
	LastOrderViolations int     `json:"last_order_violations"`
	InjectedFailures    int64   `json:"injected_failures"`
}

// WriteJSON writes r to dir/NAME.json.
func (r *Results) WriteJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, r.Meta.Name+".json")
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResultsFile reads one results file.
func ReadResultsFile(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// ReadResults reads every *.json in dir that is a harness results file.
func ReadResults(dir string) ([]*Results, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*Results
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r Results
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if r.Meta.Name == "" {
			continue
		}
		out = append(out, &r)
	}
	return out, nil
}
