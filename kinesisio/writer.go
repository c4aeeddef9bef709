package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/repartd/repartd/repartition"
)

// putBatch is one PutRecords call and its outcome. The relay fills entries;
// a writer fills the rest. Batches are reused.
type putBatch struct {
	entries []*repartition.Entry
	stream  string // destination or dead-letter stream
	dlq     bool
	reqs    []types.PutRecordsRequestEntry
	keyBuf  []byte
	ends    []int
	strs    []string

	// outcome
	codes    []string // per entry: "" = written, else the entry's ErrorCode
	err      error    // whole-call error; codes unset
	class    errClass
	timedOut bool // err is the call's own timeout (PutTimeout), not ctx's end
	took     time.Duration
}

// writer sends batches with PutRecords. It decides nothing: the relay
// interprets outcomes, so retry policy lives in one place.
type writer struct {
	dst     RecordPutter
	timeout time.Duration
}

func (w *writer) run(ctx context.Context, work <-chan *putBatch, done chan<- *putBatch) error {
	for {
		select {
		case b := <-work:
			w.put(ctx, b)
			select {
			case done <- b:
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *writer) put(ctx context.Context, b *putBatch) {
	b.reqs = b.reqs[:0]
	b.codes = b.codes[:0]
	b.err, b.class, b.timedOut = nil, 0, false
	// One buffer holds every key of the batch; strings are cut from it, so
	// a batch costs one key allocation, not two per entry.
	b.keyBuf, b.ends = b.keyBuf[:0], b.ends[:0]
	for _, e := range b.entries {
		b.keyBuf = repartition.AppendPartitionKey(b.keyBuf, e.Key)
		if e.HashKey != "" { // a DDL copy, placed on its shard
			b.keyBuf = append(b.keyBuf, e.HashKey...)
		} else {
			b.keyBuf = repartition.AppendExplicitHashKey(b.keyBuf, e.Key)
		}
		b.ends = append(b.ends, len(b.keyBuf))
	}
	keys := string(b.keyBuf)
	// The SDK wants *string: point into a per-batch slice sized up front,
	// so no pointer moves and no string header escapes per entry.
	if cap(b.strs) < 2*len(b.entries) {
		b.strs = make([]string, 0, 2*len(b.entries))
	}
	b.strs = b.strs[:0]
	off := 0
	for i, e := range b.entries {
		pk := keys[off : off+repartition.PartitionKeyLen]
		if e.PartitionKey != "" {
			pk = e.PartitionKey
		}
		b.strs = append(b.strs, pk, keys[off+repartition.PartitionKeyLen:b.ends[i]])
		off = b.ends[i]
		b.reqs = append(b.reqs, types.PutRecordsRequestEntry{
			Data:            e.Data,
			PartitionKey:    &b.strs[2*i],
			ExplicitHashKey: &b.strs[2*i+1],
		})
	}
	cctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	start := time.Now()
	out, err := w.dst.PutRecords(cctx, &kinesis.PutRecordsInput{
		StreamName: aws.String(b.stream),
		Records:    b.reqs,
	})
	b.took = time.Since(start)
	if err != nil {
		b.err, b.class = fmt.Errorf("put records to %s: %w", b.stream, err), classify(ctx, err)
		b.timedOut = ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded)
		return
	}
	if len(out.Records) != len(b.entries) {
		b.err = fmt.Errorf("put records to %s: %d results for %d entries", b.stream, len(out.Records), len(b.entries))
		b.class = classAmbiguous
		return
	}
	for _, r := range out.Records {
		code := ""
		if r.ErrorCode != nil || r.SequenceNumber == nil {
			code = aws.ToString(r.ErrorCode)
			if code == "" {
				code = "NoSequenceNumber"
			}
		}
		b.codes = append(b.codes, code)
	}
}
