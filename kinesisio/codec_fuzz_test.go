package kinesisio

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// FuzzCodec_GetRecords serves arbitrary bytes as a 200 GetRecords reply:
// the fast path never panics, never accepts what the SDK rejects, and
// whatever it accepts it decodes as the SDK does; with its fallback the
// fast codec's result (output or error) is always the SDK's.
//
//	go test -run '^$' -fuzz FuzzCodec_GetRecords -fuzztime 2m ./kinesisio/
func FuzzCodec_GetRecords(f *testing.F) {
	for _, tc := range codecTestCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { compareGetRecords(t, body) })
}

// FuzzCodec_PutRecordsOutput is FuzzCodec_GetRecords for PutRecords replies.
func FuzzCodec_PutRecordsOutput(f *testing.F) {
	for _, tc := range putRecordsOutputBodies {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) { comparePutRecordsOutput(t, body) })
}

// FuzzCodec_PutRecordsBody: the fast encoder writes the SDK's body, byte
// for byte, whatever the data and keys hold.
func FuzzCodec_PutRecordsBody(f *testing.F) {
	for _, s := range oddStrings {
		f.Add([]byte(s), s, s, "wide", false)
	}
	f.Fuzz(func(t *testing.T, data []byte, pk, hashKey, stream string, arn bool) {
		in := &kinesis.PutRecordsInput{Records: []types.PutRecordsRequestEntry{
			{Data: data, PartitionKey: aws.String(pk), ExplicitHashKey: aws.String(hashKey)},
			{Data: data, PartitionKey: aws.String(hashKey)},
		}}
		if arn {
			in.StreamARN = aws.String(stream)
		} else {
			in.StreamName = aws.String(stream)
		}
		if got, want := appendPutRecords(nil, in), sdkBody(t, putRecordsOp, in); !bytes.Equal(got, want) {
			t.Fatalf("body\n  %q\nwant the SDK's\n  %q", got, want)
		}
	})
}
