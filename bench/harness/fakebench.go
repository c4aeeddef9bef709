package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// InProcResult is workload inproc, target 2 of the performance issue: the
// whole relay in one process against the in-process fake Kinesis (20 ms
// per PutRecords), measured by BenchmarkRelay with and without 30% of
// entries failed, and a soak of the same relay fed at full speed, to see
// its memory stay flat.
type InProcResult struct {
	Command string `json:"command"`
	// Benchmarks are BenchmarkRelay's cases, medians over the counts; its
	// records/s is first record read to last acknowledged, its cpu-s/1M
	// the whole test process (the fake included) over the same relays.
	Benchmarks  []MicroBenchmark `json:"benchmarks"`
	SoakCommand string           `json:"soak_command"`
	Soak        *SoakResult      `json:"soak,omitempty"`
	// SoakPeakRSSMiB and SoakCPUSeconds are the kernel's accounting of the
	// soak process, start to exit.
	SoakPeakRSSMiB float64 `json:"soak_peak_rss_mib"`
	SoakCPUSeconds float64 `json:"soak_cpu_s"`
}

// Benchmark returns the named case (e.g. "uniform/latency20ms"), or nil.
func (r *InProcResult) Benchmark(name string) *MicroBenchmark {
	for i := range r.Benchmarks {
		if strings.TrimPrefix(r.Benchmarks[i].Name, "BenchmarkRelay/") == name {
			return &r.Benchmarks[i]
		}
	}
	return nil
}

// The cases of target 2.
const (
	inprocUniform = "uniform/latency20ms"
	inprocFail30  = "uniform/latency20ms_fail30"
)

// RunInProc is workload inproc: BenchmarkRelay's uniform cases (-count
// Reps), then the soak for Sizes.SoakDuration. It needs no emulator.
func (e *Env) RunInProc(ctx context.Context) (*InProcResult, error) {
	args := []string{"test", "-run", "^$", "-bench", "Relay/uniform", "-benchmem", "-count", strconv.Itoa(e.Cfg.Reps), "-timeout", "60m", "./kinesisio/"}
	res := &InProcResult{Command: "go " + strings.Join(args, " ")}
	e.Logf("inproc: %s", res.Command)
	out, _, err := RunProc(ctx, "go", args, ProcOptions{Dir: e.Cfg.Repo, LogPath: filepath.Join(e.Cfg.Work, "logs", "inproc-bench.log")})
	res.Benchmarks = ParseBench(string(out))
	for _, b := range res.Benchmarks {
		e.Logf("inproc: %s: %s records/s, %s CPU-s per 1M records", b.Name, fmtSummary(b.RecordsPerS), fmtSummary(b.CPUSecPer1M))
	}
	if err != nil {
		return res, fmt.Errorf("relay benchmark: %w", err)
	}

	bin := filepath.Join(e.Cfg.Work, "bin", "soak")
	if out, _, err := RunProc(ctx, "go", []string{"build", "-o", bin, "./bench/cmd/soak"}, ProcOptions{Dir: e.Cfg.Repo}); err != nil {
		return res, fmt.Errorf("build soak: %w: %s", err, out)
	}
	d := e.Cfg.Sizes.SoakDuration
	sargs := []string{"--duration", d.String()}
	if d < time.Minute {
		sargs = append(sargs, "--sample", (d / 10).String())
	}
	res.SoakCommand = "go run ./bench/cmd/soak " + strings.Join(sargs, " ")
	e.Logf("inproc: %s", res.SoakCommand)
	out, u, err := RunProc(ctx, bin, sargs, ProcOptions{Dir: e.Cfg.Repo, LogPath: filepath.Join(e.Cfg.Work, "logs", "soak.log"),
		OnLine: func(l []byte) {
			if s := string(l); strings.Contains(s, "soak ") {
				e.Logf("inproc: %s", strings.TrimSpace(s))
			}
		}})
	res.SoakPeakRSSMiB, res.SoakCPUSeconds = float64(u.MaxRSSKiB)/1024, u.CPUSeconds
	var s SoakResult
	if jerr := json.Unmarshal(out, &s); jerr == nil {
		s.Command = res.SoakCommand
		res.Soak = &s
		e.Logf("inproc: soak: %.0f records/s, RSS %.0f → %.0f MiB, slope %s MiB/min over the second half, %d order violations",
			s.RecordsPerS, s.RSSFirstMiB, s.RSSLastMiB, FormatNumber(float64(s.RSSSlopeMiBPerMin)), s.OrderViolations)
	} else if err == nil {
		err = fmt.Errorf("soak output: %w", jerr)
	}
	if err != nil {
		return res, fmt.Errorf("soak: %w", err)
	}
	return res, nil
}
