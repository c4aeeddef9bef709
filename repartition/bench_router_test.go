package repartition

import (
	"bytes"
	"encoding/json"
	"testing"
)

// BenchmarkRoute routes testdata/cdc_update.json, a CDC update with
// transaction details and 15 columns, as a reader would: one Router, one
// reused Decision.
func BenchmarkRoute(b *testing.B) {
	payload := bytes.TrimSpace(readTestdata(b, "cdc_update.json"))
	pretty := reindent(payload)
	cases := []struct {
		name    string
		rules   []string
		setup   []string
		payload []byte
		want    KeySource
	}{
		{"configured", []string{"sales.orders=id"}, nil, payload, SourceColumns},
		{"learned", nil, []string{cdcCreateTable}, payload, SourceControl},
		{"composite", []string{"sales.orders=cust_id,id"}, nil, payload, SourceColumns},
		{"table", nil, nil, payload, SourceTable},
		{"pretty", []string{"sales.orders=id"}, nil, pretty, SourceColumns},
		{"control", nil, nil, []byte(cdcCreateTable), SourceTable},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			r := NewRouter(mustRules(b, bc.rules...), Learned{})
			var d Decision
			for _, p := range bc.setup {
				r.Route([]byte(p), &d)
			}
			r.Route(bc.payload, &d)
			if d.KeySource != bc.want {
				b.Fatalf("key source %v (%s), want %v", d.KeySource, d.Reason, bc.want)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.payload)))
			for b.Loop() {
				r.Route(bc.payload, &d)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// stdlibKey extracts the same key with encoding/json: the reference the
// hand-written scanner must beat to be worth its code.
func stdlibKey(payload []byte, cols []string, material []byte) (uint64, []byte, bool) {
	var rec struct {
		Data     map[string]json.RawMessage `json:"data"`
		Metadata struct {
			RecordType string `json:"record-type"`
			Schema     string `json:"schema-name"`
			Table      string `json:"table-name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(payload, &rec); err != nil || rec.Metadata.RecordType != "data" {
		return 0, material, false
	}
	material = append(append(append(material[:0], rec.Metadata.Schema...), 0), rec.Metadata.Table...)
	for _, c := range cols {
		v, ok := rec.Data[c]
		if !ok {
			return 0, material, false
		}
		material = append(append(material, 0), v...)
	}
	return Hash(material), material, true
}

func BenchmarkRouteEncodingJSON(b *testing.B) {
	payload := bytes.TrimSpace(readTestdata(b, "cdc_update.json"))
	r := NewRouter(mustRules(b, "sales.orders=id"), Learned{})
	var d Decision
	r.Route(payload, &d)
	cols := []string{"id"}
	key, material, ok := stdlibKey(payload, cols, nil)
	if !ok || key != d.Key {
		b.Fatalf("encoding/json key %016x ok %v, Router key %016x", key, ok, d.Key)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		key, material, _ = stdlibKey(payload, cols, material)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	_ = key
}
