package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/rs/zerolog"

	"github.com/repartd/repartd/bench/loadgen"
	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetrics_ExportRelayStateAndReadiness(t *testing.T) {
	fake := kinesistest.New(kinesistest.WithSeed(1))
	for name, n := range map[string]int{"src": 1, "dst": 4} {
		if err := fake.CreateStream(name, n); err != nil {
			t.Fatal(err)
		}
	}
	g, _ := loadgen.New(loadgen.DefaultConfig())
	var es []types.PutRecordsRequestEntry
	for range 400 {
		es = append(es, types.PutRecordsRequestEntry{Data: slices.Clone(g.Next().Data), PartitionKey: aws.String("T")})
	}
	if _, err := fake.PutRecords(context.Background(), &kinesis.PutRecordsInput{StreamName: aws.String("src"), Records: es}); err != nil {
		t.Fatal(err)
	}
	cfg := kinesisio.DefaultConfig()
	cfg.Source, cfg.Dest = "src", "dst"
	cfg.CheckpointInterval, cfg.LogInterval = 50*time.Millisecond, time.Second
	relay, err := kinesisio.NewRelay(cfg, fake, fake, &kinesisio.MemStore{}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	addr, stop, err := serveMetrics("127.0.0.1:0", relay, "src", "dst")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	base := "http://" + addr
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before the relay runs: %d %q, want 503", code, body)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for relay.Stats().RecordsOut < 400 || relay.Snapshot().Stats.RecordsOut < 400 {
		if time.Now().After(deadline) {
			t.Fatalf("relay did not finish: %+v", relay.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz %d %q", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`repartd_records_out_total{dest="dst",source="src"} 400`,
		`repartd_fences_total{dest="dst",source="src"} 4`,
		`repartd_millis_behind_latest{dest="dst",shard_id="shardId-000000000000",source="src"} 0`,
		`repartd_end_to_end_latency_seconds_count{dest="dst",source="src"} 400`,
		`repartd_put_latency_seconds_bucket`,
		`repartd_dest_shards{dest="dst",source="src"} 4`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		fmt.Println(metrics)
	}
}
