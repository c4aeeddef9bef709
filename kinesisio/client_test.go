package kinesisio

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestNewClient_OnCallSeesEveryOperation: one call of the hook per
// operation, before it is sent (so a failing call counts), with the stream
// its input names.
func TestNewClient_OnCallSeesEveryOperation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Header.Get("X-Amz-Target") == "Kinesis_20131202.PutRecords" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"no"}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	var mu sync.Mutex
	var calls []APICall
	c, err := NewClient(context.Background(), ClientOptions{EndpointURL: srv.URL, OnCall: func(a APICall) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, a)
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("src")})
	_, _ = c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String("it")})
	_, _ = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/wide")})
	if _, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("dlq"),
		Records: []types.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k")}}}); err == nil {
		t.Fatal("PutRecords: want the server's AccessDenied")
	}
	want := []APICall{
		{"Kinesis", "ListShards", "src"},
		{"Kinesis", "GetRecords", ""},
		{"Kinesis", "DescribeStreamSummary", "wide"},
		{"Kinesis", "PutRecords", "dlq"},
	}
	if !slices.Equal(calls, want) {
		t.Errorf("OnCall saw\n  %v\nwant\n  %v", calls, want)
	}
}

func TestNewClient_NoOnCallAddsNoMiddleware(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	plain, err := NewClient(context.Background(), ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hooked, err := NewClient(context.Background(), ClientOptions{OnCall: func(APICall) {}})
	if err != nil {
		t.Fatal(err)
	}
	if n, m := len(plain.Options().APIOptions), len(hooked.Options().APIOptions); n+1 != m {
		t.Errorf("API options: %d without OnCall, %d with; want exactly one more with", n, m)
	}
}
