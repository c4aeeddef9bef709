package harness

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config is one harness run.
type Config struct {
	Mode     string // "bench" or "peers"
	Quick    bool
	Reps     int
	Endpoint string // "" (start kinesalite), a URL, or "aws"
	Label    string // names an endpoint's results file: endpoint-LABEL.json
	Command  string // what the user typed, for the report
	Only     []string
	Repo     string
	OutDir   string // results JSON and charts
	Report   string // RESULTS.md path
	Work     string // scratch: logs, checkpoints, binaries
	Keep     bool   // keep Work afterwards
	Benthos  string // benthos binary (bench-peers)
	// RepartdBin and FaultProxyBin, if set, are used instead of building
	// ./cmd/repartd and ./cmd/kinesis-faultproxy from the work tree.
	RepartdBin, FaultProxyBin string
	Sizes                     Sizes
}

// Sizes bound every workload in time and records. Record counts derived
// from the measured ceiling (records/s × seconds) keep run times similar
// on fast and slow endpoints.
type Sizes struct {
	TuneCallers    []int
	TuneSeconds    float64
	CeilingSeconds float64
	CeilingRecords int
	RelaySeconds   float64 // (b) sized to this many seconds at the ceiling
	MinRecords     int
	MaxRecords     int
	LatencyRates   []int
	LatencySeconds float64
	HotSeconds     float64 // (d) load size in ceiling-seconds
	HotBound       time.Duration
	ScaleSources   []int
	ScaleDests     []int
	ScaleSeconds   float64
	ScaleBound     time.Duration
	RelayBound     time.Duration
	MicroCount     int
	MicroBenchtime string
	Profile        bool
	PeerRecords    int
	PeerBound      time.Duration
	PeerTune       []BenthosSetting
	FaultBound     time.Duration
	FaultRecords   int
	SoakDuration   time.Duration // workload inproc's soak
}

// FullSizes are `make bench`'s: every run 10–30 s, 3 repetitions.
func FullSizes() Sizes {
	return Sizes{
		TuneCallers:    []int{1, 2, 4, 8, 16},
		TuneSeconds:    6,
		CeilingSeconds: 12,
		CeilingRecords: 400_000,
		RelaySeconds:   20,
		MinRecords:     5_000,
		MaxRecords:     400_000,
		LatencyRates:   []int{1000, 5000, 10000},
		LatencySeconds: 15,
		HotSeconds:     8,
		HotBound:       15 * time.Second,
		ScaleSources:   []int{1, 4, 16},
		ScaleDests:     []int{4, 16, 64},
		ScaleSeconds:   12,
		ScaleBound:     90 * time.Second,
		RelayBound:     180 * time.Second,
		MicroCount:     5,
		Profile:        true,
		PeerRecords:    120_000,
		PeerBound:      150 * time.Second,
		PeerTune:       []BenthosSetting{{1, 0}, {8, 0}, {64, 0}, {1, 500}, {8, 500}, {64, 500}},
		FaultBound:     90 * time.Second,
		FaultRecords:   30_000,
		SoakDuration:   10 * time.Minute,
	}
}

// QuickSizes are the smoke run's: tiny loads, one repetition, a few
// minutes in all; CI can run it. Its figures are not measurements.
func QuickSizes() Sizes {
	return Sizes{
		TuneCallers:    []int{4},
		TuneSeconds:    2,
		CeilingSeconds: 2,
		CeilingRecords: 20_000,
		RelaySeconds:   0.5,
		MinRecords:     2_000,
		MaxRecords:     5_000,
		LatencyRates:   []int{1000},
		LatencySeconds: 3,
		HotSeconds:     0.3,
		HotBound:       6 * time.Second,
		ScaleSources:   []int{1, 4},
		ScaleDests:     []int{4, 16},
		ScaleSeconds:   0.3,
		ScaleBound:     30 * time.Second,
		RelayBound:     60 * time.Second,
		MicroCount:     1,
		MicroBenchtime: "100ms",
		PeerRecords:    3_000,
		PeerBound:      60 * time.Second,
		FaultBound:     10 * time.Second,
		FaultRecords:   2_000,
		SoakDuration:   20 * time.Second,
	}
}

// Workload names for --only.
var Workloads = []string{"ceiling", "relay", "latency", "hotkeys", "scaling", "micro", "profile", "inproc"}

// machineOnly are the workloads that need no emulator or endpoint.
var machineOnly = []string{"micro", "inproc"}

// NeedsTarget reports whether the selected workloads need streams: a run
// of machine-only workloads (--only inproc) starts no emulator.
func (c Config) NeedsTarget() bool {
	if c.Mode != "bench" || len(c.Only) == 0 {
		return true
	}
	for _, o := range c.Only {
		if !slices.Contains(machineOnly, o) {
			return true
		}
	}
	return false
}

// Validate reports every bad field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Mode != "bench" && c.Mode != "peers" && c.Mode != "report" {
		errs = append(errs, fmt.Errorf("mode %q: want bench, peers or report", c.Mode))
	}
	if c.Reps < 1 || c.Reps > 50 {
		errs = append(errs, fmt.Errorf("reps %d: must be 1..50", c.Reps))
	}
	if !c.Quick && c.Reps < 3 && c.Mode != "report" {
		errs = append(errs, fmt.Errorf("reps %d: a measurement needs ≥ 3 (or --quick)", c.Reps))
	}
	for _, o := range c.Only {
		if !slices.Contains(Workloads, o) {
			errs = append(errs, fmt.Errorf("only %q: want one of %v", o, Workloads))
		}
	}
	if c.Mode == "peers" && c.Endpoint != "" {
		errs = append(errs, errors.New("endpoint: bench-peers runs on local emulators only (Benthos needs the local router)"))
	}
	if c.Repo == "" {
		errs = append(errs, errors.New("repo: required"))
	}
	return errors.Join(errs...)
}

// Runs reports whether workload w is selected.
func (c Config) Runs(w string) bool {
	return len(c.Only) == 0 || slices.Contains(c.Only, w)
}

// ResultsName is the results file stem.
func (c Config) ResultsName() string {
	name := c.Mode
	if c.Endpoint != "" {
		name = "endpoint-" + c.Label
	}
	if c.Quick {
		name += "-quick"
	}
	return name
}
