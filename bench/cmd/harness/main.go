// Command harness is repartd's end-to-end benchmark: `make bench` and
// `make bench-peers` run it. It starts what it needs on 127.0.0.1 (two
// kinesalite processes, dynalite and routers for Benthos) or uses an
// existing endpoint, runs each workload a bounded time several times,
// stops everything it started, and writes bench/results/*.json and
// bench/RESULTS.md with SVG charts. See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/repartd/repartd/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	mode := fs.String("mode", "bench", "bench (workloads a–e, micro-benchmarks, profile), peers (Benthos side by side) or report (regenerate RESULTS.md from bench/results)")
	quick := fs.Bool("quick", os.Getenv("BENCH_QUICK") != "" && os.Getenv("BENCH_QUICK") != "0", "smoke run: tiny loads, 1 repetition, results in bench/results/quick (env BENCH_QUICK)")
	reps := fs.Int("reps", 0, "repetitions per figure (default 3; 1 with --quick)")
	endpoint := fs.String("endpoint", os.Getenv("ENDPOINT"), "existing endpoint instead of local emulators: a URL (LocalStack http://localhost:4566) or aws (the SDK's default chain) (env ENDPOINT)")
	label := fs.String("label", os.Getenv("BENCH_LABEL"), "name of the endpoint in results (endpoint-LABEL.json; default from the URL) (env BENCH_LABEL)")
	only := fs.String("only", os.Getenv("BENCH_ONLY"), "comma-separated workloads to run: "+strings.Join(harness.Workloads, ",")+" (default all) (env BENCH_ONLY)")
	repo := fs.String("repo", "", "repository root (default: found from the working directory)")
	out := fs.String("out", "", "results directory (default bench/results, or bench/results/quick)")
	report := fs.String("report", "", "report file (default bench/RESULTS.md, or OUT/RESULTS.md for quick runs)")
	work := fs.String("work", "", "scratch directory for logs, checkpoints and binaries (default a new temp dir)")
	keep := fs.Bool("keep", false, "keep the scratch directory")
	benthos := fs.String("benthos", harness.DefaultBenthosPath(), "Benthos binary; built from the module proxy if missing")
	repartdBin := fs.String("repartd", "", "repartd binary to measure (default: built from the work tree into the scratch directory)")
	proxyBin := fs.String("faultproxy", "", "kinesis-faultproxy binary (default: built from the work tree)")
	command := fs.String("command", "", "the command to name in the report (default: from the flags)")
	benthosTune := fs.String("benthos-tune", "", "Benthos settings to try, MAX_IN_FLIGHT:INPUT_BATCH[,…] (default 1:0,8:0,64:0,1:500,8:500,64:500; 64:0 with --quick)")
	peerRecords := fs.Int("peer-records", 0, "records per Benthos-vs-repartd run (default 120,000; 3,000 with --quick)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	root := *repo
	if root == "" {
		var err error
		if root, err = findRepo(); err != nil {
			return err
		}
	}
	cfg := harness.Config{Mode: *mode, Quick: *quick, Reps: *reps, Endpoint: *endpoint, Label: *label, Repo: root, Keep: *keep, Benthos: *benthos,
		RepartdBin: *repartdBin, FaultProxyBin: *proxyBin}
	if cfg.Reps == 0 {
		cfg.Reps = 3
		if cfg.Quick {
			cfg.Reps = 1
		}
	}
	cfg.Sizes = harness.FullSizes()
	if cfg.Quick {
		cfg.Sizes = harness.QuickSizes()
	}
	if *benthosTune != "" {
		cfg.Sizes.PeerTune = nil
		for item := range strings.SplitSeq(*benthosTune, ",") {
			var bs harness.BenthosSetting
			if _, err := fmt.Sscanf(strings.TrimSpace(item), "%d:%d", &bs.MaxInFlight, &bs.InputBatch); err != nil {
				return fmt.Errorf("benthos-tune %q: want MAX_IN_FLIGHT:INPUT_BATCH", item)
			}
			cfg.Sizes.PeerTune = append(cfg.Sizes.PeerTune, bs)
		}
	}
	if *peerRecords > 0 {
		cfg.Sizes.PeerRecords = *peerRecords
	}
	if cfg.Endpoint != "" && cfg.Label == "" {
		cfg.Label = harness.LabelFor(cfg.Endpoint)
	}
	if *only != "" {
		for o := range strings.SplitSeq(*only, ",") {
			cfg.Only = append(cfg.Only, strings.TrimSpace(o))
		}
	}
	cfg.OutDir = *out
	if cfg.OutDir == "" {
		cfg.OutDir = filepath.Join(root, "bench", "results")
		if cfg.Quick {
			cfg.OutDir = filepath.Join(cfg.OutDir, "quick")
		}
	}
	cfg.Report = *report
	if cfg.Report == "" {
		cfg.Report = filepath.Join(root, "bench", "RESULTS.md")
		if cfg.Quick {
			cfg.Report = filepath.Join(cfg.OutDir, "RESULTS.md")
		}
	}
	cfg.Command = *command
	if cfg.Command == "" {
		cfg.Command = defaultCommand(cfg)
	}
	if cfg.Mode != "report" {
		cfg.Work = *work
		if cfg.Work == "" {
			d, err := os.MkdirTemp("", "repartd-bench-")
			if err != nil {
				return err
			}
			cfg.Work = d
		}
		if !*keep {
			defer os.RemoveAll(cfg.Work)
		}
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%7.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	if cfg.Work != "" {
		logf("scratch: %s (logs in logs/)", cfg.Work)
	}
	err := harness.Run(ctx, cfg, logf)
	if cfg.Mode != "report" {
		logf("done in %s; report: %s", time.Since(start).Round(time.Second), cfg.Report)
	}
	return err
}

// defaultCommand is the make command that reproduces this run.
func defaultCommand(cfg harness.Config) string {
	c := "make bench"
	if cfg.Mode == "peers" {
		c = "make bench-peers"
	}
	if cfg.Endpoint != "" {
		c += " ENDPOINT=" + cfg.Endpoint
		if cfg.Label != harness.LabelFor(cfg.Endpoint) {
			c += " BENCH_LABEL=" + cfg.Label
		}
	}
	if cfg.Quick {
		c += " BENCH_QUICK=1"
	}
	if len(cfg.Only) > 0 {
		c += " BENCH_ONLY=" + strings.Join(cfg.Only, ",")
	}
	return c
}

// findRepo walks up from the working directory to go.mod.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository (or --repo)")
		}
		dir = parent
	}
}
