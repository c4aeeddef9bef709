package kinesisio

import (
	"encoding/json"
)

// DLQHeader is the first line of every dead-letter record; the record's
// original bytes follow the newline untouched. Consumers split at the first
// '\n'.
type DLQHeader struct {
	Version      int    `json:"repartd_dlq"`
	Reason       string `json:"reason"`
	Stream       string `json:"stream"`
	ShardID      string `json:"shard_id"`
	Seq          string `json:"seq"`
	PartitionKey string `json:"partition_key"`
}

// dlqEnvelope builds a dead-letter record: header line, '\n', original.
func dlqEnvelope(reason, stream, shard, seq, pk string, data []byte) []byte {
	h, _ := json.Marshal(DLQHeader{Version: 1, Reason: reason, Stream: stream, ShardID: shard, Seq: seq, PartitionKey: pk})
	out := make([]byte, 0, len(h)+1+len(data))
	out = append(out, h...)
	out = append(out, '\n')
	return append(out, data...)
}
