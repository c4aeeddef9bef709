package faultproxy

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/repartd/repartd/kinesisio/kinesistest"
	"github.com/rs/zerolog"
)

// stack is one test's kinesalite, a stream on it, a proxy in front, and
// two SDK clients: direct (setup, read-back) and through the proxy.
type stack struct {
	emu    *kinesistest.Emulator
	proxy  *Proxy
	direct *kinesis.Client
	client *kinesis.Client
	stream string
	arn    string
}

// newStack starts kinesalite, creates a stream of shards shards and puts a
// proxy with opts in front of it. Every call is bounded by the test's ctx.
func newStack(t *testing.T, shards int, opts Options) *stack {
	t.Helper()
	emu := kinesistest.StartKinesalite(t)
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	opts.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	p := Start(t, emu.URL, opts)
	s := &stack{emu: emu, proxy: p, direct: newClient(emu.URL), client: newClient(p.URL()), stream: "s1"}
	ctx := testCtx(t)
	if _, err := s.direct.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(s.stream), ShardCount: aws.Int32(int32(shards))}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	for {
		out, err := s.direct.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(s.stream)})
		if err != nil {
			t.Fatalf("describe stream: %v", err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			s.arn = aws.ToString(out.StreamDescriptionSummary.StreamARN)
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatal("stream never became ACTIVE")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// newClient is the real SDK client with static credentials and no retries,
// so every fault reaches the test as the first attempt saw it.
func newClient(url string) *kinesis.Client {
	return kinesis.NewFromConfig(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLOCAL", "local", ""),
	}, func(o *kinesis.Options) {
		o.BaseEndpoint = aws.String(url)
		o.Retryer = aws.NopRetryer{}
	})
}

// testCtx bounds a test's calls well inside the 10 s budget.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// entries makes n entries with keys and data "<prefix>-<i>".
func entries(prefix string, n int) []types.PutRecordsRequestEntry {
	out := make([]types.PutRecordsRequestEntry, n)
	for i := range out {
		k := fmt.Sprintf("%s-%d", prefix, i)
		out[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(k), Data: []byte(k)}
	}
	return out
}

// readAll reads every record of the stream directly from kinesalite, shard
// by shard, returning data strings per shard id.
func (s *stack) readAll(t *testing.T) map[string][]string {
	t.Helper()
	ctx := testCtx(t)
	ls, err := s.direct.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(s.stream)})
	if err != nil {
		t.Fatalf("list shards: %v", err)
	}
	out := map[string][]string{}
	for _, sh := range ls.Shards {
		it, err := s.direct.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(s.stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("get shard iterator: %v", err)
		}
		iter := it.ShardIterator
		for iter != nil {
			gr, err := s.direct.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records: %v", err)
			}
			if len(gr.Records) == 0 {
				break
			}
			for _, r := range gr.Records {
				out[*sh.ShardId] = append(out[*sh.ShardId], string(r.Data))
			}
			iter = gr.NextShardIterator
		}
	}
	return out
}

// count is the number of records in the stream.
func (s *stack) count(t *testing.T) int {
	n := 0
	for _, recs := range s.readAll(t) {
		n += len(recs)
	}
	return n
}

// iterator opens a TRIM_HORIZON iterator on shard through client c.
func (s *stack) iterator(t *testing.T, c *kinesis.Client, shard string) *string {
	t.Helper()
	out, err := c.GetShardIterator(testCtx(t), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(s.stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("get shard iterator: %v", err)
	}
	return out.ShardIterator
}

// clock is a manual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
