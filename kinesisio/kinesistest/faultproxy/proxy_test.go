package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// These tests run the real SDK client against a real kinesalite through
// the proxy, and read the stream back directly to see what was written.

func TestPutRecords_PartialFailureWritesOnlySurvivorsInOrder(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Seed: 7, Faults: Faults{PutFailRate: 0.3}})
	ctx := testCtx(t)

	var want []string // successful entries, in call order
	failed := 0
	codes := map[string]int{}
	for call := range 4 {
		in := entries(fmt.Sprintf("c%d", call), 100)
		out, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: in})
		if err != nil {
			t.Fatalf("call %d: %v", call, err)
		}
		if len(out.Records) != len(in) {
			t.Fatalf("call %d: %d results for %d entries", call, len(out.Records), len(in))
		}
		callFailed := 0
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				callFailed++
				codes[*r.ErrorCode]++
				if aws.ToString(r.ErrorMessage) == "" || r.SequenceNumber != nil || r.ShardId != nil {
					t.Errorf("call %d entry %d: failed entry %+v: want ErrorMessage, no SequenceNumber/ShardId", call, i, r)
				}
				continue
			}
			if r.SequenceNumber == nil || aws.ToString(r.ShardId) != "shardId-000000000000" {
				t.Errorf("call %d entry %d: success without sequence number or shard: %+v", call, i, r)
			}
			want = append(want, string(in[i].Data))
		}
		if got := int(aws.ToInt32(out.FailedRecordCount)); got != callFailed {
			t.Errorf("call %d: FailedRecordCount %d, %d entries have an ErrorCode", call, got, callFailed)
		}
		failed += callFailed
	}
	if failed < 80 || failed > 160 {
		t.Errorf("%d of 400 entries failed at rate 0.3", failed)
	}
	for code := range codes {
		if code != CodeThroughput && code != CodeInternal {
			t.Errorf("unexpected ErrorCode %q", code)
		}
	}
	if codes[CodeThroughput] == 0 || codes[CodeInternal] == 0 {
		t.Errorf("codes %v: want both kinds", codes)
	}
	got := s.readAll(t)["shardId-000000000000"]
	if !slices.Equal(got, want) {
		t.Errorf("stream holds %d records, want exactly the %d successful entries in order", len(got), len(want))
	}
	st := s.proxy.Stats().Op(OpPutRecords)
	if st.Entries != 400 || st.EntriesFailed[CodeThroughput]+st.EntriesFailed[CodeInternal] != int64(failed) {
		t.Errorf("stats %+v: want 400 entries, %d failed", st, failed)
	}
}

func TestPutRecords_EveryEntryFailedForwardsNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{PutFailRate: 1, PutFailCode: CodeInternal}})
	out, err := s.client.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 5)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 5 {
		t.Errorf("FailedRecordCount %d, want 5", aws.ToInt32(out.FailedRecordCount))
	}
	for i, r := range out.Records {
		if aws.ToString(r.ErrorCode) != CodeInternal || aws.ToString(r.ErrorMessage) != "Internal service failure." {
			t.Errorf("entry %d: %+v", i, r)
		}
	}
	if n := s.count(t); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
	if st := s.proxy.Stats().Op(OpPutRecords); st.Forwarded != 0 {
		t.Errorf("forwarded %d calls, want 0", st.Forwarded)
	}
}

func TestWholeCall_ThrottleIsTypedAndWritesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{ThrottleRate: 1, Ops: []string{OpPutRecords, OpGetRecords, OpListShards}}})
	ctx := testCtx(t)

	_, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)})
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) {
		t.Fatalf("PutRecords: got %v, want *types.ProvisionedThroughputExceededException", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("PutRecords: want HTTP 400, got %v", err)
	}
	if !strings.Contains(pt.ErrorMessage(), "Rate exceeded for stream s1") {
		t.Errorf("message %q", pt.ErrorMessage())
	}

	it := s.iterator(t, s.direct, "shardId-000000000000")
	_, err = s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	if !errors.As(err, &pt) {
		t.Errorf("GetRecords: got %v, want *types.ProvisionedThroughputExceededException", err)
	}

	_, err = s.client.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(s.stream)})
	var le *types.LimitExceededException
	if !errors.As(err, &le) {
		t.Errorf("ListShards: got %v, want *types.LimitExceededException", err)
	}

	if n := s.count(t); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
	if st := s.proxy.Stats().Op(OpPutRecords); st.Throttled != 1 || st.Forwarded != 0 {
		t.Errorf("PutRecords stats %+v: want 1 throttled, 0 forwarded", st)
	}
}

// A whole-call 500 carries the common error code InternalFailure, which the
// SDK has no type for: it arrives as a generic API error with that code,
// not as *types.InternalFailureException.
func TestWholeCall_InternalFailureIs500GenericAPIError(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{ErrorRate: 1}})
	_, err := s.client.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InternalFailure" {
		t.Fatalf("got %v, want API error InternalFailure", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Errorf("want HTTP 500, got %v", err)
	}
	var typed *types.InternalFailureException
	if errors.As(err, &typed) {
		t.Errorf("SDK now types InternalFailure as *types.InternalFailureException: update faultproxy's docs")
	}
	if n := s.count(t); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
}

func TestWholeCall_ResetIsTransportErrorAndWritesNothing(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{ResetRate: 1}})
	_, err := s.client.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)})
	if err == nil {
		t.Fatal("PutRecords succeeded through a reset")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		t.Errorf("got API error %v, want a transport error", err)
	}
	var se *smithyhttp.RequestSendError
	if !errors.As(err, &se) {
		t.Errorf("got %T %v, want *smithyhttp.RequestSendError", err, err)
	}
	t.Logf("reset as the SDK reports it: %v", err)
	if n := s.count(t); n != 0 {
		t.Errorf("%d records written, want 0", n)
	}
	if st := s.proxy.Stats().Op(OpPutRecords); st.Resets != 1 || st.Forwarded != 0 {
		t.Errorf("stats %+v: want 1 reset, 0 forwarded", st)
	}
}

func TestAmbiguous_ResetAfterWrite(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{AmbiguousRate: 1}})
	_, err := s.client.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)})
	var se *smithyhttp.RequestSendError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a transport error", err)
	}
	if n := s.count(t); n != 3 {
		t.Errorf("%d records written, want all 3 although the call failed", n)
	}
	if st := s.proxy.Stats().Op(OpPutRecords); st.Ambiguous != 1 || st.Forwarded != 1 {
		t.Errorf("stats %+v: want 1 ambiguous, 1 forwarded", st)
	}
}

func TestAmbiguous_DelayPastClientTimeout(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{AmbiguousRate: 1, AmbiguousDelay: 5 * time.Second}})
	ctx, cancel := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("call took %v", el)
	}
	if n := s.count(t); n != 3 {
		t.Errorf("%d records written, want all 3 although the call timed out", n)
	}
}

func TestLatency_DelaysBeforeForwarding(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{Latency: 150 * time.Millisecond}})
	start := time.Now()
	if _, err := s.client.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("call took %v, want at least 150ms", el)
	}
	// A client that gives up during the latency has nothing written.
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if _, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("late", 3)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	time.Sleep(200 * time.Millisecond) // the proxy would forward now if it ignored the hang-up
	if n := s.count(t); n != 3 {
		t.Errorf("%d records written, want 3", n)
	}
}

// hashKeyOf is the lowest hash key of shard i of n even shards, as an
// ExplicitHashKey.
func hashKeyOf(i, n int) *string {
	step := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(n)))
	return aws.String(new(big.Int).Mul(step, big.NewInt(int64(i))).String())
}

func TestLimits_WriteBurstOnOneShard(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStack(t, 2, Options{Now: clk.Now, Faults: Faults{Limits: true}})
	ctx := testCtx(t)

	hot := 0
	for call := range 6 { // 3000 records to shard 0 within one (frozen) second
		in := entries(fmt.Sprintf("hot%d", call), 500)
		for i := range in {
			in[i].ExplicitHashKey = hashKeyOf(0, 2)
		}
		out, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: in})
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range out.Records {
			if r.ErrorCode == nil {
				continue
			}
			hot++
			if *r.ErrorCode != CodeThroughput || !strings.Contains(aws.ToString(r.ErrorMessage), "shardId-000000000000") {
				t.Fatalf("call %d entry %d: %s %q", call, i, *r.ErrorCode, aws.ToString(r.ErrorMessage))
			}
		}
	}
	if hot != 2000 {
		t.Errorf("%d of 3000 entries throttled, want 2000 (1000 rec/s per shard)", hot)
	}
	// The other shard has its own budget.
	cold := entries("cold", 500)
	for i := range cold {
		cold[i].ExplicitHashKey = hashKeyOf(1, 2)
	}
	out, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: cold})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("other shard: %v, %d failed", err, aws.ToInt32(out.FailedRecordCount))
	}
	// A second later shard 0 takes 1000 more.
	clk.Advance(time.Second)
	out, err = s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("later", 500)})
	if err != nil {
		t.Fatal(err)
	}
	if f := aws.ToInt32(out.FailedRecordCount); f != 0 {
		t.Errorf("after refill: %d failed", f)
	}
	recs := s.readAll(t)
	if n := len(recs["shardId-000000000000"]); n < 1000 {
		t.Errorf("shard 0 holds %d records, want the 1000 admitted plus later ones", n)
	}
	if st := s.proxy.Stats().Op(OpPutRecords); st.EntriesLimited != 2000 {
		t.Errorf("stats: %d entries limited, want 2000", st.EntriesLimited)
	}
}

func TestLimits_WriteBytesPerShard(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStack(t, 1, Options{Now: clk.Now, Faults: Faults{Limits: true}})
	in := entries("big", 5)
	for i := range in {
		in[i].Data = make([]byte, 300<<10) // 3 fit in 1 MiB, with keys
	}
	out, err := s.client.PutRecords(testCtx(t), &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: in})
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, r := range out.Records {
		got = append(got, r.ErrorCode == nil)
	}
	if want := []bool{true, true, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("admitted %v, want %v", got, want)
	}
}

func TestLimits_PutRecordThrottledWhole(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStack(t, 1, Options{Now: clk.Now, Faults: Faults{Limits: true}})
	ctx := testCtx(t)
	put := func() error {
		_, err := s.client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(s.stream), PartitionKey: aws.String("k"), Data: make([]byte, 600<<10)})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}
	var pt *types.ProvisionedThroughputExceededException
	if err := put(); !errors.As(err, &pt) {
		t.Fatalf("second 600 KiB in a second: got %v, want throttled", err)
	}
	if n := s.count(t); n != 1 {
		t.Errorf("%d records written, want 1", n)
	}
}

func TestLimits_GetRecordsFivePerSecond(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStack(t, 1, Options{Now: clk.Now, Faults: Faults{Limits: true}})
	ctx := testCtx(t)
	it := s.iterator(t, s.client, "shardId-000000000000")
	for i := range 5 {
		out, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		it = out.NextShardIterator // the proxy knows this one's shard too
	}
	_, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) || !strings.Contains(pt.ErrorMessage(), "shardId-000000000000") {
		t.Fatalf("6th call in a second: got %v, want ProvisionedThroughputExceededException naming the shard", err)
	}
	clk.Advance(200 * time.Millisecond) // one call's worth
	if _, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it}); err != nil {
		t.Errorf("after 200ms: %v", err)
	}
	if st := s.proxy.Stats().Op(OpGetRecords); st.LimitedCalls != 1 {
		t.Errorf("stats %+v: want 1 limited call", st)
	}
}

func TestLimits_GetRecordsBytesDebt(t *testing.T) {
	t.Parallel()
	clk := newClock()
	s := newStack(t, 1, Options{Now: clk.Now, Faults: Faults{Limits: true}})
	ctx := testCtx(t)
	for i := range 3 { // 2.7 MiB, written directly: no write limits
		if _, err := s.direct.PutRecord(ctx, &kinesis.PutRecordInput{
			StreamName: aws.String(s.stream), PartitionKey: aws.String(fmt.Sprint(i)), Data: make([]byte, 900<<10),
		}); err != nil {
			t.Fatal(err)
		}
	}
	it := s.iterator(t, s.client, "shardId-000000000000")
	out, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	if err != nil || len(out.Records) != 3 {
		t.Fatalf("first read: %v, %d records", err, len(out.Records))
	}
	_, err = s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) {
		t.Fatalf("read after 2.7 MiB: got %v, want throttled", err)
	}
	clk.Advance(time.Second)
	if _, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}); err != nil {
		t.Errorf("after the debt is repaid: %v", err)
	}
}

func TestGetRecords_ExpiredIterator(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{ExpireIteratorRate: 1}})
	it := s.iterator(t, s.client, "shardId-000000000000")
	_, err := s.client.GetRecords(testCtx(t), &kinesis.GetRecordsInput{ShardIterator: it})
	var ei *types.ExpiredIteratorException
	if !errors.As(err, &ei) {
		t.Fatalf("got %v, want *types.ExpiredIteratorException", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 {
		t.Errorf("want HTTP 400, got %v", err)
	}
}

func TestGetRecords_EmptyReadKeepsPosition(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{Faults: Faults{EmptyReadRate: 1}})
	ctx := testCtx(t)
	if _, err := s.direct.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries("k", 3)}); err != nil {
		t.Fatal(err)
	}
	it := s.iterator(t, s.client, "shardId-000000000000")
	out, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 0 || aws.ToString(out.NextShardIterator) != aws.ToString(it) || aws.ToInt64(out.MillisBehindLatest) != 0 {
		t.Fatalf("empty read: %d records, same iterator %v, lag %d", len(out.Records),
			aws.ToString(out.NextShardIterator) == aws.ToString(it), aws.ToInt64(out.MillisBehindLatest))
	}
	if err := s.proxy.SetFaults("", Faults{}); err != nil {
		t.Fatal(err)
	}
	out, err = s.client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	if err != nil || len(out.Records) != 3 {
		t.Fatalf("after the empty read: %v, %d records, want 3", err, len(out.Records))
	}
}

func TestStreamARNOnly_IsServed(t *testing.T) {
	t.Parallel()
	s := newStack(t, 1, Options{})
	ctx := testCtx(t)
	arn := aws.String(s.arn)

	// kinesalite itself rejects it: the reason for the fix.
	if _, err := s.direct.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn}); err == nil {
		t.Log("kinesalite now accepts StreamARN-only ListShards; the fix is moot")
	}

	if _, err := s.client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: arn}); err != nil {
		t.Errorf("DescribeStreamSummary: %v", err)
	}
	ls, err := s.client.ListShards(ctx, &kinesis.ListShardsInput{StreamARN: arn})
	if err != nil || len(ls.Shards) != 1 {
		t.Fatalf("ListShards: %v", err)
	}
	if _, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamARN: arn, Records: entries("k", 2)}); err != nil {
		t.Errorf("PutRecords: %v", err)
	}
	it, err := s.client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamARN: arn, ShardId: ls.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("GetShardIterator: %v", err)
	}
	gr, err := s.client.GetRecords(ctx, &kinesis.GetRecordsInput{StreamARN: arn, ShardIterator: it.ShardIterator})
	if err != nil || len(gr.Records) != 2 {
		t.Fatalf("GetRecords: %v, %d records", err, len(gr.Records))
	}
	if st := s.proxy.Stats(); st.Op(OpListShards).StreamNamesAdded != 1 || st.Op(OpGetRecords).StreamNamesAdded != 0 {
		t.Errorf("stats %+v", st)
	}
}

// outcome is one call's result as a client sees it, for comparing runs.
func outcome(out *kinesis.PutRecordsOutput, err error) string {
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return "api:" + ae.ErrorCode()
		}
		return "transport"
	}
	var b strings.Builder
	for _, r := range out.Records {
		if r.ErrorCode == nil {
			b.WriteByte('.')
		} else {
			b.WriteString((*r.ErrorCode)[:1])
		}
	}
	return b.String()
}

func TestDeterminism_SameSeedSameFaults(t *testing.T) {
	t.Parallel()
	s := newStack(t, 2, Options{})
	faults := Faults{PutFailRate: 0.3, ThrottleRate: 0.1, ErrorRate: 0.1, ResetRate: 0.05, AmbiguousRate: 0.05,
		ExpireIteratorRate: 0.2, EmptyReadRate: 0.2}
	run := func(seed uint64) []string {
		p := Start(t, s.emu.URL, Options{Seed: seed, Faults: faults})
		c := newClient(p.URL())
		ctx := testCtx(t)
		var hist []string
		for call := range 12 {
			out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.stream), Records: entries(fmt.Sprint(call), 20)})
			hist = append(hist, outcome(out, err))
		}
		it := s.iterator(t, c, "shardId-000000000001")
		for range 12 {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1)})
			switch {
			case err != nil:
				hist = append(hist, outcome(nil, err))
			case len(out.Records) == 0:
				hist = append(hist, "empty")
			default:
				hist = append(hist, "read")
				it = out.NextShardIterator
			}
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		return hist
	}
	a, b, c := run(42), run(42), run(43)
	t.Logf("seed 42: %v\nseed 43: %v", a, c)
	if !slices.Equal(a, b) {
		t.Errorf("seed 42 twice:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same history %v", a)
	}
}
