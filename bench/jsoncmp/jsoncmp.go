// Package jsoncmp compares repartd's hand-written key scanner
// (repartition.Router) with encoding/json and github.com/valyala/fastjson on
// the same job: find metadata.schema-name, metadata.table-name and the raw
// token of each key column in data, and hash them as routing key contract v1
// says. It is its own module so that fastjson never enters repartd's go.mod.
package jsoncmp

import (
	"encoding/json"

	"github.com/repartd/repartd/repartition"
	"github.com/valyala/fastjson"
)

// StdlibKey extracts the key with encoding/json, as stdlibKey in
// repartition/bench_router_test.go does: json.RawMessage keeps each key
// column's bytes as they are in the payload, and a duplicate member name
// resolves last-wins, both as the contract says. material is reused.
func StdlibKey(payload []byte, cols []string, material []byte) (uint64, []byte, bool) {
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
	material = repartition.AppendKeyMaterial(material[:0], []byte(rec.Metadata.Schema), []byte(rec.Metadata.Table))
	for _, c := range cols {
		v, ok := rec.Data[c]
		if !ok {
			return 0, material, false
		}
		material = append(append(material, 0), v...)
	}
	return repartition.Hash(material), material, true
}

// FastjsonKey extracts the key with fastjson at its best: one reused Parser,
// which allocates nothing once warm. fastjson keeps no raw text of objects
// and arrays, so a key column's token is written back with MarshalTo: as in
// the payload for numbers, literals and strings (kept raw until decoded),
// but objects and arrays lose their whitespace; and Object.Get returns the
// first of duplicate members where the contract takes the last. See
// README.md.
func FastjsonKey(p *fastjson.Parser, payload []byte, cols []string, material []byte) (uint64, []byte, bool) {
	v, err := p.ParseBytes(payload)
	if err != nil {
		return 0, material, false
	}
	md := v.Get("metadata")
	if md == nil || string(md.GetStringBytes("record-type")) != "data" {
		return 0, material, false
	}
	material = repartition.AppendKeyMaterial(material[:0], md.GetStringBytes("schema-name"), md.GetStringBytes("table-name"))
	data := v.Get("data")
	for _, c := range cols {
		cv := data.Get(c) // nil-safe: nil when data is missing
		if cv == nil {
			return 0, material, false
		}
		material = cv.MarshalTo(append(material, 0))
	}
	return repartition.Hash(material), material, true
}

// FastjsonValidKey is FastjsonKey behind fastjson.ValidateBytes. The Parser
// alone is lenient: it takes 01, 1., -, nan, "\x" and raw control bytes in
// strings, all of which the Router and encoding/json reject, and it refuses
// nesting deeper than 300 where both allow 10000; ValidateBytes agrees with
// json.Valid on those. It holds fastjson to the contract's whole-record
// validation, except UTF-8 inside strings, which no fastjson call checks.
func FastjsonValidKey(p *fastjson.Parser, payload []byte, cols []string, material []byte) (uint64, []byte, bool) {
	if fastjson.ValidateBytes(payload) != nil {
		return 0, material, false
	}
	return FastjsonKey(p, payload, cols, material)
}
