// Command kinesis-faultproxy puts a fault-injecting proxy between a Kinesis
// client (repartd, Benthos) and a local emulator (kinesalite), so the
// client meets throttling, partial PutRecords failures, resets, ambiguous
// writes, expired iterators and AWS's per-shard limits over real HTTP.
//
//	kinesis-faultproxy --listen 127.0.0.1:4577 --upstream http://127.0.0.1:4567 \
//	    --put-fail-rate 0.1 --limits --seed 42
//
// It prints "faultproxy listening on ADDR seed N" once serving, stops on
// SIGTERM or SIGINT and then prints its stats as JSON. While it runs,
// POST /_faults and GET /_stats on the same address change the faults and
// read the counters (see package faultproxy).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/repartd/repartd/kinesisio/kinesistest/faultproxy"
	"github.com/rs/zerolog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "kinesis-faultproxy:", err)
		os.Exit(1)
	}
}

// envName is the environment twin of a flag: --put-fail-rate is
// FAULTPROXY_PUT_FAIL_RATE.
func envName(flagName string) string {
	return "FAULTPROXY_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// config is the command line, parsed.
type config struct {
	listen, upstream, dynamo, stream, ops, logLevel string
	allowRemote                                     bool
	seed                                            uint64
	shardRefresh                                    time.Duration
	faults                                          faultproxy.Faults
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("kinesis-faultproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:4577", "address to serve on; loopback only unless --allow-remote")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow a non-loopback --listen address")
	fs.StringVar(&c.upstream, "upstream", "", "Kinesis emulator URL, e.g. http://127.0.0.1:4567 (required)")
	fs.StringVar(&c.dynamo, "dynamo-upstream", "", "DynamoDB emulator URL for X-Amz-Target DynamoDB_* calls (unset: --upstream)")
	fs.Uint64Var(&c.seed, "seed", 0, "random seed; 0 picks one and prints it")
	fs.StringVar(&c.stream, "stream", "", "apply the faults to this stream only (default: every stream)")
	fs.StringVar(&c.ops, "ops", "", "comma-separated operations the whole-call faults and latency apply to (default PutRecords,PutRecord,GetRecords)")
	fs.Float64Var(&c.faults.PutFailRate, "put-fail-rate", 0, "fraction of PutRecords entries failed alone (not written)")
	fs.StringVar(&c.faults.PutFailCode, "put-fail-code", "", "ErrorCode of failed entries: ProvisionedThroughputExceededException, InternalFailure, or empty for both")
	fs.Float64Var(&c.faults.ThrottleRate, "throttle-rate", 0, "fraction of calls answered 400 ProvisionedThroughputExceededException")
	fs.Float64Var(&c.faults.ErrorRate, "error-rate", 0, "fraction of calls answered 500 InternalFailure")
	fs.Float64Var(&c.faults.ResetRate, "reset-rate", 0, "fraction of calls reset before forwarding")
	fs.Float64Var(&c.faults.AmbiguousRate, "ambiguous-rate", 0, "fraction of calls forwarded, then reset (or delayed by --ambiguous-delay)")
	fs.DurationVar(&c.faults.AmbiguousDelay, "ambiguous-delay", 0, "hold ambiguous responses this long instead of resetting")
	fs.DurationVar(&c.faults.Latency, "latency", 0, "delay every call in --ops before forwarding")
	fs.BoolVar(&c.faults.Limits, "limits", false, "enforce AWS per-shard limits (writes 1000 rec/s and 1 MiB/s, reads 5 calls/s and 2 MiB/s)")
	fs.Float64Var(&c.faults.ExpireIteratorRate, "expire-iterator-rate", 0, "fraction of GetRecords calls answered ExpiredIteratorException")
	fs.Float64Var(&c.faults.EmptyReadRate, "empty-read-rate", 0, "fraction of GetRecords calls answered with no records")
	fs.DurationVar(&c.shardRefresh, "shard-refresh", 5*time.Second, "how often --limits re-lists a stream's shards")
	fs.StringVar(&c.logLevel, "log-level", "warn", "log level on stderr (debug logs every injected fault)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: kinesis-faultproxy --upstream URL [flags]\n\nflags (each also read from its environment variable):\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(stderr, "  --%s  [%s]\n\t%s (default %q)\n", f.Name, envName(f.Name), f.Usage, f.DefValue)
		})
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) { // flags win over the environment
		if v := getenv(envName(f.Name)); v != "" && !set[f.Name] {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", envName(f.Name), v, err))
			}
		}
	})
	if c.upstream == "" {
		errs = append(errs, errors.New("upstream: required"))
	}
	if c.ops != "" {
		for op := range strings.SplitSeq(c.ops, ",") {
			c.faults.Ops = append(c.faults.Ops, strings.TrimSpace(op))
		}
	}
	if err := c.faults.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := zerolog.ParseLevel(c.logLevel); err != nil {
		errs = append(errs, fmt.Errorf("log-level: %w", err))
	}
	return c, errors.Join(errs...)
}

// run serves until ctx ends, then prints the stats as JSON on stdout.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	level, _ := zerolog.ParseLevel(c.logLevel)
	log := zerolog.New(stderr).Level(level).With().Timestamp().Logger()
	opts := faultproxy.Options{
		Seed:           c.seed,
		DynamoUpstream: c.dynamo,
		AllowRemote:    c.allowRemote,
		ShardRefresh:   c.shardRefresh,
		Log:            log,
	}
	if c.stream == "" {
		opts.Faults = c.faults
	}
	p, err := faultproxy.New(c.upstream, opts)
	if err != nil {
		return err
	}
	defer p.Close()
	if c.stream != "" {
		if err := p.SetFaults(c.stream, c.faults); err != nil {
			return err
		}
	}
	url, err := p.Listen(c.listen)
	if err != nil {
		return err
	}
	log.Info().Str("upstream", c.upstream).Str("dynamo_upstream", c.dynamo).Str("stream", c.stream).
		Interface("faults", c.faults).Msg("config")
	fmt.Fprintf(stdout, "faultproxy listening on %s seed %d\n", hostPort(url), p.Seed())

	<-ctx.Done()
	// 1. stop serving and wait for in-flight calls; 2. print the totals.
	_ = p.Close()
	b, err := json.MarshalIndent(p.Stats(), "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}

// hostPort strips the scheme from http://HOST:PORT.
func hostPort(url string) string {
	hp := strings.TrimPrefix(url, "http://")
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return url
	}
	return hp
}
