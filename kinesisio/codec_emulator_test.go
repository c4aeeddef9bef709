package kinesisio_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/kinesisio/kinesistest"
)

// TestCodec_KinesaliteRoundTrip writes through the fast codec to a real
// emulator and reads every shard back through both codecs: the same
// records, as written.
func TestCodec_KinesaliteRoundTrip(t *testing.T) {
	emu := kinesistest.StartKinesalite(t)
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	fast, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: emu.URL})
	if err != nil {
		t.Fatal(err)
	}
	sdk, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: emu.URL, SDKCodec: true})
	if err != nil {
		t.Fatal(err)
	}
	const stream = "codec"
	if _, err := fast.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	for {
		out, err := fast.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("stream never became ACTIVE")
		case <-time.After(10 * time.Millisecond):
		}
	}

	r := rand.New(rand.NewPCG(9, 10))
	keys := []string{`plain`, `q"uote`, `back\slash`, "tab\tnl\n", "é 日本 🙂", "\u2028", "</&>", "\x01\x7f"}
	written := map[string]types.PutRecordsRequestEntry{} // by sequence number
	for batch := range 4 {
		entries := make([]types.PutRecordsRequestEntry, 100)
		for i := range entries {
			data := make([]byte, 1+r.IntN(1000))
			for j := range data {
				data[j] = byte(r.IntN(256))
			}
			entries[i] = types.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(keys[r.IntN(len(keys))])}
			if batch%2 == 1 {
				entries[i].ExplicitHashKey = aws.String([]string{"0", "340282366920938463463374607431768211455"}[i%2])
			}
		}
		out, err := fast.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 || len(out.Records) != len(entries) {
			t.Fatalf("batch %d: %d failed, %d results", batch, aws.ToInt32(out.FailedRecordCount), len(out.Records))
		}
		for i, res := range out.Records {
			written[aws.ToString(res.SequenceNumber)] = entries[i]
		}
	}

	shards, err := sdk.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for _, sh := range shards.Shards {
		iter := func(c *kinesis.Client) *string {
			out, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: sh.ShardId,
				ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			return out.ShardIterator
		}
		got, err := fast.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter(fast), Limit: aws.Int32(10000)})
		if err != nil {
			t.Fatal(err)
		}
		want, err := sdk.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter(sdk), Limit: aws.Int32(10000)})
		if err != nil {
			t.Fatal(err)
		}
		if got.NextShardIterator == nil || want.NextShardIterator == nil {
			t.Errorf("%s: no next iterator", aws.ToString(sh.ShardId))
		}
		// Iterators are issued per call; everything else must agree.
		got.NextShardIterator, want.NextShardIterator = nil, nil
		got.ResultMetadata, want.ResultMetadata = middleware.Metadata{}, middleware.Metadata{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the fast codec read %d records, the SDK's %d, and they differ", aws.ToString(sh.ShardId), len(got.Records), len(want.Records))
		}
		for _, rec := range got.Records {
			w, ok := written[aws.ToString(rec.SequenceNumber)]
			if !ok || !bytes.Equal(rec.Data, w.Data) || aws.ToString(rec.PartitionKey) != aws.ToString(w.PartitionKey) {
				t.Fatalf("record %s read back differs from what was written", aws.ToString(rec.SequenceNumber))
			}
			read++
		}
	}
	if read != len(written) {
		t.Fatalf("read %d records back, wrote %d", read, len(written))
	}
}
