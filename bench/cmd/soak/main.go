// Command soak runs repartd's relay (kinesisio.Relay) against the
// in-process fake Kinesis for a while, fed at full speed, and prints JSON:
// records/s overall and per interval, RSS and Go heap samples, per-row
// order violations, and the slope of RSS over the second half of the run.
// It is target 2's "RSS flat over a 10-minute run"; the benchmark harness
// runs it as workload inproc (make bench BENCH_ONLY=inproc).
//
//	go run ./bench/cmd/soak                      # 10 minutes
//	go run ./bench/cmd/soak --duration 30s --fail-rate 0.3
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
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
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg := harness.DefaultSoakConfig()
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to feed the relay (it then drains)")
	fs.DurationVar(&cfg.Sample, "sample", cfg.Sample, "RSS and heap sampling interval")
	fs.DurationVar(&cfg.PutLatency, "put-latency", cfg.PutLatency, "the fake's PutRecords latency")
	fs.Float64Var(&cfg.FailRate, "fail-rate", cfg.FailRate, "share of PutRecords entries the fake fails (0.3: 30% partial failures)")
	fs.IntVar(&cfg.SourceShards, "source-shards", cfg.SourceShards, "source shards")
	fs.IntVar(&cfg.DestShards, "dest-shards", cfg.DestShards, "destination shards")
	fs.IntVar(&cfg.Rows, "rows", cfg.Rows, "distinct rows")
	fs.Int64Var(&cfg.MaxBacklog, "max-backlog", cfg.MaxBacklog, "records written to the source and not yet read, at most")
	fs.BoolVar(&cfg.TrimConsumed, "trim-consumed", cfg.TrimConsumed, "trim the source behind the relay's reads, not its checkpoint")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	heapProfile := fs.String("heap-profile", "", "write a heap profile to this file at 90% of the duration")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		if !*quiet {
			fmt.Fprintf(os.Stderr, "%7.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
		}
	}
	if *heapProfile != "" {
		t := time.AfterFunc(cfg.Duration*9/10, func() {
			if err := writeHeapProfile(*heapProfile); err != nil {
				logf("heap profile: %v", err)
			}
		})
		defer t.Stop()
	}
	res, err := harness.RunSoak(ctx, cfg, logf)
	if res != nil {
		res.Command = "go run ./bench/cmd/soak " + strings.Join(args, " ")
		res.Command = strings.TrimSpace(res.Command)
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if e := enc.Encode(res); e != nil && err == nil {
			err = e
		}
	}
	if err == nil && (res.OrderViolations > 0 || res.Missing != 0 || res.KeyConflicts > 0) {
		err = fmt.Errorf("%d order violations, %d missing, %d keys in flight twice", res.OrderViolations, res.Missing, res.KeyConflicts)
	}
	return err
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the profile shows what is live
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
