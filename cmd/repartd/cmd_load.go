package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
)

func cmdLoad(ctx context.Context, args []string, getenv func(string) string, io stdio, sig <-chan os.Signal) error {
	cfg := loadgen.DefaultConfig()
	fs := newFlags("load --stream S --records N [--rows R] [--tables T] [--rate N] [--zipf S] [--bad-records B]",
		"Write DMS-shaped CDC records to a stream, all under one partition key as DMS does:\n"+
			"a create-table control record per table, then inserts, updates and deletes over R rows.\n"+
			"By default the hottest row takes about 1% of the changes; --zipf S skews harder.\n"+
			"--bad-records B makes B of the N records bad, spread evenly: malformed JSON, truncated records,\n"+
			"JSON without metadata, unknown record-types, unknown operations (valid: routed as data) and,\n"+
			"one in a hundred, oversize records (1 MiB minus the partition key: they fit the source but not\n"+
			"a destination keyed with repartd's 16-character partition key).", io.err)
	stream := fs.String("stream", "", "stream to write")
	records := fs.Int("records", 10000, "records to write, create-table records included")
	fs.IntVar(&cfg.Rows, "rows", cfg.Rows, "distinct rows over all tables")
	fs.IntVar(&cfg.Tables, "tables", cfg.Tables, "tables")
	rate := fs.Int("rate", 0, "records per second (0: as fast as the stream takes them)")
	fs.Float64Var(&cfg.Zipf, "zipf", 0, "Zipf exponent of the row choice (0: hottest row takes --hot-share)")
	fs.Float64Var(&cfg.HotShare, "hot-share", cfg.HotShare, "the hottest row's share of changes when --zipf is 0")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed (same seed, same records)")
	fs.IntVar(&cfg.BadRecords, "bad-records", 0, "how many of --records are bad, mixed in evenly after the create-table records (0: none)")
	fs.StringVar(&cfg.Schema, "schema", cfg.Schema, "schema name")
	pk := fs.String("partition-key", "LOADTASK", "the one partition key of every record (DMS uses one per task or table)")
	endpoint := fs.String("endpoint-url", "", "endpoint for this stream (default: the SDK chain, e.g. AWS_ENDPOINT_URL)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return usageError(err)
	}
	var errs []error
	if *stream == "" {
		errs = append(errs, errors.New("stream: required"))
	}
	if *records < 1 {
		errs = append(errs, fmt.Errorf("records %d: must be ≥ 1", *records))
	}
	if *rate < 0 {
		errs = append(errs, fmt.Errorf("rate %d: must be ≥ 0", *rate))
	}
	cfg.Records = *records
	cfg.OversizeBytes = loadgen.MaxRecordBytes - len(*pk)
	gen, err := loadgen.New(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return usageError(err)
	}
	client, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: *endpoint})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sig:
			cancel()
		case <-ctx.Done():
		}
	}()

	start := time.Now()
	batch := 500
	if *rate > 0 {
		batch = max(1, min(500, *rate/10)) // about ten calls a second
	}
	written, retries, bad := 0, 0, 0
	entries := make([]types.PutRecordsRequestEntry, 0, batch)
	for written < *records {
		entries = entries[:0]
		for len(entries) < batch && written+len(entries) < *records {
			r := gen.Next()
			if r.Bad != "" {
				bad++
			}
			entries = append(entries, types.PutRecordsRequestEntry{
				Data:         append([]byte(nil), r.Data...),
				PartitionKey: pk,
			})
		}
		n, err := kinesisio.PutAll(ctx, client, *stream, entries)
		retries += n
		if err != nil {
			return fmt.Errorf("after %d records: %w", written, err)
		}
		written += len(entries)
		if *rate > 0 {
			due := start.Add(time.Duration(float64(written) / float64(*rate) * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
	}
	elapsed := time.Since(start).Seconds()
	return json.NewEncoder(io.out).Encode(map[string]any{
		"stream": *stream, "records": written, "bad_records": bad, "retries": retries,
		"elapsed_s": round3(elapsed), "records_per_s": round3(float64(written) / elapsed),
		"hottest_row_share": round3(gen.HottestShare()), "partition_key": aws.ToString(pk),
	})
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
