// Command repartd spreads an AWS DMS change stream from its hot Kinesis
// shard over a wide stream, keyed by row, keeping every row's changes in
// order. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

// exitError carries an exit code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// stdio is the process's standard streams, passed in for tests.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

func main() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	err := run(context.Background(), os.Args[1:], os.Getenv, stdio{os.Stdin, os.Stdout, os.Stderr}, sig)
	os.Exit(exitCode(err, os.Stderr))
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "repartd:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "repartd:", err)
	return 1
}

const usage = `repartd spreads an AWS DMS change stream from its hot Kinesis shard over a
wide stream, keyed by schema + table + primary key, keeping each row's
changes in source order.

usage: repartd COMMAND [flags]

commands:
  run      relay the source stream to the destination (the service)
  route    dry run: read DMS payloads (JSON Lines) on stdin, print each one's routing
  load     write DMS-shaped CDC records to a stream (demo and benchmarks)
  verify   compare source and destination: missing, duplicates, per-row order
  analyze  read a window of the source: hot shards, hot rows, projected spread, shards needed
  streams  create or delete a stream (local emulators, benchmarks)
  healthcheck  exit 0 if the local run answers /healthz (container health checks)
  version  print version, commit and Go version

examples:
  repartd run --source dms-cdc --dest dms-cdc-wide --checkpoint /var/lib/repartd
  repartd run --source dms-cdc --dest dms-cdc-wide --checkpoint ./cp --key 'shop.orders=order_id' --key 'shop.*=id'
  echo '{"data":{"id":1},"metadata":{"record-type":"data","operation":"insert","schema-name":"shop","table-name":"orders"}}' | repartd route --key 'shop.*=id'
  repartd verify --source dms-cdc --dest dms-cdc-wide
  repartd analyze --stream dms-cdc --duration 60s --html analyze.html

AWS configuration comes from the SDK's default chain (AWS_REGION, AWS_PROFILE,
AWS_ENDPOINT_URL for LocalStack or an emulator, credentials). Every flag has an
environment twin: --max-in-flight is REPARTD_MAX_IN_FLIGHT.
Run 'repartd COMMAND -h' for a command's flags.
`

// run is the whole program; only main exits.
func run(ctx context.Context, args []string, getenv func(string) string, io stdio, sig <-chan os.Signal) error {
	if len(args) == 0 {
		fmt.Fprint(io.err, usage)
		return &exitError{code: 2, err: errors.New("")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, getenv, io, sig)
	case "route":
		return cmdRoute(rest, getenv, io)
	case "load":
		return cmdLoad(ctx, rest, getenv, io, sig)
	case "verify":
		return cmdVerify(ctx, rest, getenv, io, sig)
	case "streams":
		return cmdStreams(ctx, rest, getenv, io)
	case "analyze":
		return cmdAnalyze(ctx, rest, getenv, io, sig)
	case "healthcheck":
		return cmdHealthcheck(ctx, rest, getenv, io)
	case "version", "--version":
		fmt.Fprintln(io.out, versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(io.out, usage)
		return nil
	}
	fmt.Fprint(io.err, usage)
	return &exitError{code: 2, err: fmt.Errorf("unknown command %q", cmd)}
}

func versionString() string {
	goVersion, c := "unknown", commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && c == "" {
				c = s.Value
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("repartd %s (commit %s, %s)", version, c, goVersion)
}

// usageError marks bad flags: exit code 2.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &exitError{code: 2, err: err}
}
