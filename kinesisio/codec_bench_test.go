package kinesisio

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithy "github.com/aws/smithy-go"

	"github.com/repartd/repartd/bench/loadgen"
)

// Codec benchmarks, SDK codec against the fast one, on DMS rows from
// loadgen (546 bytes on average):
//
//	go test -run '^$' -bench Codec -benchmem -count 6 ./kinesisio/

const (
	benchGetRecords = 10_000 // a full GetRecords reply
	benchPutRecords = 500    // a full PutRecords call
)

func benchRows(b *testing.B, n int) []loadgen.Record {
	b.Helper()
	g, err := loadgen.New(loadgen.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	rows := make([]loadgen.Record, n)
	for i := range rows {
		r := g.Next()
		r.Data = slices.Clone(r.Data)
		rows[i] = r
	}
	return rows
}

// getRecordsBody is a GetRecords reply as Kinesis writes it.
func getRecordsBody(rows []loadgen.Record) []byte {
	var sb strings.Builder
	sb.WriteString(`{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAHsW8zCWf9164uy8Epue6WS3w6wmj4a4USt+CNvMd6uXQ+HL5vAJMznqqC0DLKsIjuoiTi1BpT6nW0LN2M2D56zM5H8anHm30Gbri9ua+qaGgj+3XTyvbhpERfrezgLHbPB/rIcVpykJbaSj5tmcXYRmFnqZBEyHwtZYFmh6hvWVFkIwLuMZLMrpWhG5r5hzkE=","Records":[`)
	for i, r := range rows {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"SequenceNumber":"496%053d","ApproximateArrivalTimestamp":1.767225%06d123E9,"Data":"%s","PartitionKey":"%s.%s"}`,
			i, i, b64(r.Data), "shop", r.Table)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String())
}

// reportPerRecord adds records/s, ns/record and allocs/record.
func reportPerRecord(b *testing.B, records int, mallocs0 uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := float64(b.N) * float64(records)
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/record")
	b.ReportMetric(float64(ms.Mallocs-mallocs0)/n, "allocs/record")
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

func BenchmarkCodec_GetRecords(b *testing.B) {
	body := getRecordsBody(benchRows(b, benchGetRecords))
	var check kinesis.GetRecordsOutput
	if !decodeGetRecords(body, &check, new(decodeScratch)) || len(check.Records) != benchGetRecords {
		b.Fatal("the fast path declines the benchmark body")
	}
	for _, c := range []struct {
		name  string
		codec interface {
			DeserializeResponse(context.Context, *smithy.OperationSchema, *smithy.TypeRegistry, *smithyResponse, smithy.Deserializable) error
		}
	}{{"sdk", sdkProtocol}, {"fast", fastProtocol}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			m0 := mallocs()
			for b.Loop() {
				var out kinesis.GetRecordsOutput
				if err := c.codec.DeserializeResponse(context.Background(), getRecordsOp, kinesis.TypeRegistry, httpResponse(200, body), &out); err != nil {
					b.Fatal(err)
				}
			}
			reportPerRecord(b, benchGetRecords, m0)
		})
	}
}

func BenchmarkCodec_PutRecords(b *testing.B) {
	rows := benchRows(b, benchPutRecords)
	entries := make([]types.PutRecordsRequestEntry, len(rows))
	for i, r := range rows {
		entries[i] = types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String("shop." + r.Table + ".0123456789abcdef"),
			ExplicitHashKey: aws.String("170141183460469231731687303715884105728")}
	}
	in := &kinesis.PutRecordsInput{StreamName: aws.String("wide"), Records: entries}
	size := len(appendPutRecords(nil, in))
	for _, c := range []struct {
		name  string
		codec interface {
			SerializeRequest(context.Context, *smithy.OperationSchema, smithy.Serializable, *smithyRequest) error
		}
	}{{"sdk", sdkProtocol}, {"fast", fastProtocol}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			m0 := mallocs()
			for b.Loop() {
				req := newStackRequest()
				if err := c.codec.SerializeRequest(context.Background(), putRecordsOp, in, req); err != nil {
					b.Fatal(err)
				}
			}
			reportPerRecord(b, benchPutRecords, m0)
		})
	}
}

func BenchmarkCodec_PutRecordsOutput(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"EncryptionType":"NONE","FailedRecordCount":0,"Records":[`)
	for i := range benchPutRecords {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"SequenceNumber":"496%053d","ShardId":"shardId-%012d"}`, i, i%16)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	for _, c := range []struct {
		name  string
		codec interface {
			DeserializeResponse(context.Context, *smithy.OperationSchema, *smithy.TypeRegistry, *smithyResponse, smithy.Deserializable) error
		}
	}{{"sdk", sdkProtocol}, {"fast", fastProtocol}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			m0 := mallocs()
			for b.Loop() {
				var out kinesis.PutRecordsOutput
				if err := c.codec.DeserializeResponse(context.Background(), putRecordsOp, kinesis.TypeRegistry, httpResponse(200, body), &out); err != nil {
					b.Fatal(err)
				}
			}
			reportPerRecord(b, benchPutRecords, m0)
		})
	}
}
