package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/repartd/repartd/kinesisio"
)

// newLogger logs JSON lines (format "json", for CloudWatch Logs Insights
// and other machines) or aligned text ("console", for people).
func newLogger(w io.Writer, level, format string) (zerolog.Logger, error) {
	lv, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("log-level %q: want debug, info, warn or error", level)
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: true}
	default:
		return zerolog.Logger{}, fmt.Errorf("log-format %q: want json or console", format)
	}
	return zerolog.New(w).Level(lv).With().Timestamp().Logger(), nil
}

// runOptions are run's flags that are not kinesisio.Config fields.
type runOptions struct {
	cfg                             kinesisio.Config
	keys                            keyFlag
	checkpointDir, srcEndpoint      *string
	dstEndpoint, start, metricsAddr *string
	level, format                   *string
	sdkCodec                        *bool
}

// runFlags defines run's flags (also what its config file may hold).
func runFlags(stderr io.Writer) (*flag.FlagSet, *runOptions) {
	o := &runOptions{cfg: kinesisio.DefaultConfig()}
	cfg, keys := &o.cfg, &o.keys
	fs := newFlags("run --source STREAM --dest STREAM --checkpoint DIR [flags]",
		"Relay every record of the source stream to the destination, keyed by row, in per-row order.\n"+
			"SIGTERM/SIGINT drains (finishes in-flight records, checkpoints, exits 0); a second signal stops at once.", stderr)
	fs.String("config", "", "YAML file of flag values (keys are flag names; key takes a list); flags and REPARTD_* variables override it")
	fs.StringVar(&cfg.Source, "source", "", "source stream (the DMS target stream)")
	fs.StringVar(&cfg.Dest, "dest", "", "destination stream (wide, e.g. on-demand)")
	o.checkpointDir = fs.String("checkpoint", "", "directory for the checkpoint file (SOURCE.json) and its lock")
	fs.Var(keys, "key", keyUsage)
	o.srcEndpoint = fs.String("source-endpoint-url", "", "endpoint for the source stream only (default: the SDK chain, e.g. AWS_ENDPOINT_URL)")
	o.dstEndpoint = fs.String("dest-endpoint-url", "", "endpoint for the destination stream only")
	o.start = fs.String("start-position", "trim-horizon", "where to start shards without a checkpoint: trim-horizon or latest")
	fs.StringVar(&cfg.Ordering, "ordering", cfg.Ordering, "strict (a key never has two records unacknowledged) or replay (a key's records share calls; after a failure they are re-sent in order: last occurrences ordered, duplicates instead of stalls)")
	fs.IntVar(&cfg.ShardRecordsPerSec, "shard-records-per-s", cfg.ShardRecordsPerSec, "pace each destination shard to this many records/s (Kinesis: 1000; 0: no pacing)")
	fs.IntVar(&cfg.ShardBytesPerSec, "shard-bytes-per-s", cfg.ShardBytesPerSec, "pace each destination shard to this many bytes/s (Kinesis: 1 MiB; 0: no pacing)")
	fs.IntVar(&cfg.MaxBufferedRecords, "max-buffered-records", cfg.MaxBufferedRecords, "memory bound: records read and not yet acknowledged")
	fs.IntVar(&cfg.MaxUncommittedRecords, "max-uncommitted-records", cfg.MaxUncommittedRecords, "records read and not yet checkpointable (replayed after a restart); 0: 4 × max-buffered-records")
	fs.Int64Var(&cfg.MaxBufferedBytes, "max-buffered-bytes", cfg.MaxBufferedBytes, "memory bound: bytes of records read and not yet acknowledged")
	fs.IntVar(&cfg.BatchRecords, "batch-records", cfg.BatchRecords, "records per PutRecords call, 1..500")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "concurrent PutRecords calls")
	fs.DurationVar(&cfg.PutTimeout, "put-timeout", cfg.PutTimeout, "timeout of one PutRecords call (its records are then re-sent first)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "minimum time between GetRecords calls on one shard (≥ 200ms)")
	fs.IntVar(&cfg.ReadLimit, "read-limit", cfg.ReadLimit, "GetRecords Limit, 1..10000")
	fs.DurationVar(&cfg.ShardRefresh, "shard-refresh", cfg.ShardRefresh, "how often to re-list source shards")
	fs.DurationVar(&cfg.RetryBase, "retry-base", cfg.RetryBase, "first retry back-off (jittered, doubling)")
	fs.DurationVar(&cfg.RetryMax, "retry-max", cfg.RetryMax, "longest retry back-off")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", cfg.CheckpointInterval, "how often the checkpoint is written")
	fs.DurationVar(&cfg.LogInterval, "log-interval", cfg.LogInterval, "how often lag lines are logged")
	fs.DurationVar(&cfg.DrainTimeout, "drain-timeout", cfg.DrainTimeout, "how long a graceful stop may take")
	fs.DurationVar(&cfg.StopWhenIdle, "stop-when-idle", 0, "drain and exit once caught up and idle this long (0: run forever)")
	fs.IntVar(&cfg.MaxRecordSize, "max-record-size", 0, "destination record size limit in bytes, data + partition key (0: ask the stream)")
	fs.StringVar(&cfg.OnInvalid, "on-invalid", cfg.OnInvalid, "invalid records: forward (unchanged, under the hash of their source partition key), dlq (to --dlq-stream) or stop (the shard stops there)")
	fs.StringVar(&cfg.DLQStream, "dlq-stream", "", "dead-letter stream for invalid records (--on-invalid dlq) and records too big for the destination (without it they stop their shard)")
	fs.StringVar(&cfg.OnExpiredCheckpoint, "on-expired-checkpoint", cfg.OnExpiredCheckpoint, "a checkpoint that aged out of the source's retention: fail (exit 4) or trim-horizon (log an error, go on from the oldest record)")
	fs.IntVar(&cfg.InvalidLogPerSecond, "invalid-log-per-second", cfg.InvalidLogPerSecond, "invalid records logged one by one per second; the rest are counted")
	o.metricsAddr = fs.String("metrics-addr", "127.0.0.1:9090", "serve /metrics (Prometheus), /healthz and /readyz here (\"\": off; 0.0.0.0:9090 to be scraped from outside)")
	o.sdkCodec = fs.Bool("sdk-codec", false, "decode GetRecords and encode PutRecords with the AWS SDK's own JSON codec, not repartd's faster one (same results): an escape hatch")
	o.level = fs.String("log-level", "info", "debug, info, warn or error")
	o.format = fs.String("log-format", "json", "json (one object per line) or console (for people)")
	return fs, o
}

func cmdRun(ctx context.Context, args []string, getenv func(string) string, io stdio, sig <-chan os.Signal) error {
	fs, o := runFlags(io.err)
	cfg, keys := &o.cfg, &o.keys
	checkpointDir, srcEndpoint, dstEndpoint, start, metricsAddr := o.checkpointDir, o.srcEndpoint, o.dstEndpoint, o.start, o.metricsAddr
	level, format := o.level, o.format
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	log, err := newLogger(io.err, *level, *format)
	if err != nil {
		return usageError(err)
	}
	switch strings.ToLower(strings.ReplaceAll(*start, "_", "-")) {
	case "trim-horizon":
		cfg.StartPosition = types.ShardIteratorTypeTrimHorizon
	case "latest":
		cfg.StartPosition = types.ShardIteratorTypeLatest
	default:
		return usageError(fmt.Errorf("start-position %q: want trim-horizon or latest", *start))
	}
	if cfg.Rules, err = keys.keyRules(); err != nil {
		return usageError(err)
	}
	var errs []error
	if *checkpointDir == "" {
		errs = append(errs, errors.New("checkpoint: required"))
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError(err)
	}

	conns := cfg.MaxInFlight + 16
	calls, err := openCallRecorder(getenv(recordCallsEnv)) // nil unless the IAM test asks
	if err != nil {
		return err
	}
	defer calls.Close()
	src, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *srcEndpoint, MaxConns: conns, OnCall: calls.hook("source"), SDKCodec: *o.sdkCodec})
	if err != nil {
		return err
	}
	dst, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *dstEndpoint, MaxConns: conns, OnCall: calls.hook("destination"), SDKCodec: *o.sdkCodec})
	if err != nil {
		return err
	}
	store, err := kinesisio.OpenFileStore(*checkpointDir, cfg.Source, cfg.Dest)
	if err != nil {
		return err
	}
	defer store.Close()
	log.Info().Str("version", versionString()).Str("source", cfg.Source).Str("dest", cfg.Dest).
		Str("checkpoint", store.Path()).Str("keys", keys.String()).Str("start_position", string(cfg.StartPosition)).
		Int("max_buffered_records", cfg.MaxBufferedRecords).Int64("max_buffered_bytes", cfg.MaxBufferedBytes).
		Int("batch_records", cfg.BatchRecords).Int("max_in_flight", cfg.MaxInFlight).
		Str("ordering", cfg.Ordering).Str("on_invalid", cfg.OnInvalid).Str("dlq_stream", cfg.DLQStream).
		Str("on_expired_checkpoint", cfg.OnExpiredCheckpoint).Int("shard_records_per_s", cfg.ShardRecordsPerSec).Int("shard_bytes_per_s", cfg.ShardBytesPerSec).
		Dur("poll_interval", cfg.PollInterval).Dur("checkpoint_interval", cfg.CheckpointInterval).
		Dur("log_interval", cfg.LogInterval).Dur("stop_when_idle", cfg.StopWhenIdle).
		Msg("effective config")

	relay, err := kinesisio.NewRelay(*cfg, src, dst, store, log.With().Str("component", "relay").Logger())
	if err != nil {
		return usageError(err)
	}
	bound, stopMetrics, err := serveMetrics(*metricsAddr, relay, cfg.Source, cfg.Dest)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if bound != "" {
		log.Info().Str("addr", bound).Msg("serving /metrics, /healthz, /readyz")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with ctx: cancel runs when cmdRun returns
		select {
		case s := <-sig:
			log.Info().Str("signal", s.String()).Msg("draining; send again to stop at once")
			relay.Drain()
		case <-ctx.Done():
			return
		}
		select {
		case s := <-sig:
			log.Warn().Str("signal", s.String()).Msg("stopping at once; the checkpoint stays at the watermark")
			cancel()
		case <-ctx.Done():
		}
	}()
	err = relay.Run(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kinesisio.ErrDrainTimeout):
		return &exitError{code: 3, err: err}
	case errors.Is(err, kinesisio.ErrCheckpointExpired):
		return &exitError{code: 4, err: err}
	case errors.Is(err, kinesisio.ErrShardStalled):
		return &exitError{code: 5, err: err}
	case errors.Is(err, context.Canceled):
		return &exitError{code: 130, err: errors.New("stopped before draining")}
	}
	return err
}
