package repartition

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// The fuzz targets check the hand-written scanner against encoding/json, an
// independent oracle: it decides validity (json.Valid, UTF-8, the DMS
// envelope rules) and finds each key column's raw token through
// json.RawMessage, which keeps the payload's bytes (never compacted).

// fuzzRules are the --key rules of FuzzRoute; tables without a rule use what
// the previous record taught, else the table-level key.
var fuzzRules = []string{"sales.orders=order_id", "hr.*=id", "*.order_lines=order_id,line_no"}

// The examples of the DMS format reference (shared/reference/dms-format.md §7).
var dmsExamples = []string{
	`{"data":{"order_id":1001,"status":"NEW"},"metadata":{"timestamp":"2025-03-02T08:15:00.412300Z","record-type":"data","operation":"load","partition-key-type":"primary-key","partition-key-value":"sales.orders.1001","schema-name":"sales","table-name":"orders"}}`,
	`{"control":{"table-def":{"columns":{"order_id":{"type":"INT32","nullable":false},"status":{"type":"STRING","length":16,"nullable":true}},"primary-key":["order_id"]}},"metadata":{"timestamp":"2025-03-02T08:14:59.900000Z","record-type":"control","operation":"create-table","partition-key-type":"task-id","partition-key-value":"<TASKID>","schema-name":"sales","table-name":"orders"}}`,
	`{"data":{"order_id":1002,"status":"PAID"},"before-image":{"order_id":1001},"metadata":{"timestamp":"2025-03-02T09:00:00.000200Z","record-type":"data","operation":"update","partition-key-type":"schema-table","schema-name":"sales","table-name":"orders","transaction-id":8841,"transaction-record-id":1,"prev-transaction-id":8840,"prev-transaction-record-id":3,"commit-timestamp":"2025-03-02T08:59:59.991000Z","stream-position":"00000003/2A00F1C8.2.00000003/2A00F1C8"}}`,
	`{"data":{"order_id":1002},"metadata":{"timestamp":"2025-03-02T09:01:00.000010Z","record-type":"data","operation":"delete","partition-key-type":"schema-table","schema-name":"sales","table-name":"orders"}}`,
	`{"control":{},"metadata":{"timestamp":"2025-03-02T09:02:00.000000Z","record-type":"control","operation":"drop-table","partition-key-type":"task-id","partition-key-value":"<TASKID>","schema-name":"sales","table-name":"orders"}}`,
}

// oracle models one Router with encoding/json.
type oracle struct {
	learned map[[2]string][]string
}

// oracleWant is what the oracle expects of a record.
type oracleWant struct {
	kind          Kind
	source        KeySource
	schema, table string
	material      []byte
	tokens        [][]byte
}

func (o *oracle) ruleColumns(schema, table string) []string {
	var exact, bySchema, byTable, all []string
	for _, s := range fuzzRules {
		target, cols, _ := strings.Cut(s, "=")
		rs, rt, _ := strings.Cut(target, ".")
		c := strings.Split(cols, ",")
		switch {
		case rs == schema && rt == table:
			exact = c
		case rs == schema && rt == "*":
			bySchema = c
		case rs == "*" && rt == table:
			byTable = c
		case rs == "*" && rt == "*":
			all = c
		}
	}
	for _, c := range [][]string{exact, bySchema, byTable, all} {
		if c != nil {
			return c
		}
	}
	return nil
}

// object decodes raw as a JSON object, or reports false.
func object(raw []byte) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

// str decodes m[name] as a JSON string, or reports false.
func str(m map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// route applies the contract to payload, learning as a Router does.
func (o *oracle) route(payload []byte) oracleWant {
	invalid := oracleWant{kind: KindInvalid}
	if !utf8.Valid(payload) || !json.Valid(payload) {
		return invalid
	}
	top, ok := object(payload)
	if !ok {
		return invalid
	}
	md, ok := object(top["metadata"])
	if !ok {
		return invalid
	}
	rt, ok := str(md, "record-type")
	if !ok {
		return invalid
	}
	op, _ := str(md, "operation")
	schema, schemaOK := str(md, "schema-name")
	table, tableOK := str(md, "table-name")
	switch rt {
	case "control":
		w := oracleWant{kind: KindControl, source: SourceTable, schema: schema, table: table}
		w.material = AppendKeyMaterial(nil, []byte(schema), []byte(table))
		id := [2]string{schema, table}
		switch op {
		case "create-table":
			if cols := learnable(top["control"]); cols != nil {
				if o.learned == nil {
					o.learned = map[[2]string][]string{}
				}
				o.learned[id] = cols
			}
		case "drop-table":
			delete(o.learned, id)
		}
		return w
	case "data":
	default:
		return invalid
	}
	if !schemaOK || !tableOK {
		return invalid
	}
	w := oracleWant{kind: KindData, source: SourceColumns, schema: schema, table: table}
	cols := o.ruleColumns(schema, table)
	if cols == nil {
		cols, w.source = o.learned[[2]string{schema, table}], SourceControl
	}
	if cols == nil {
		w.source = SourceTable
	}
	var data map[string]json.RawMessage
	if len(cols) > 0 {
		if data, ok = object(top["data"]); !ok {
			return invalid
		}
	}
	for _, c := range cols {
		tok, ok := data[c]
		if !ok {
			return invalid
		}
		w.tokens = append(w.tokens, tok)
	}
	w.material = AppendKeyMaterial(nil, []byte(schema), []byte(table), w.tokens...)
	return w
}

// scanReasons are the scanner's syntax errors.
var scanReasons = []string{
	"unterminated string", `invalid \u escape`, "invalid escape", "control character in string",
	"invalid UTF-8", "invalid number", "invalid literal", "nesting too deep", "expected object key",
	"expected ':' after object key", "unexpected end of input", "unexpected character",
	"expected ',' or '}'", "expected ',' or ']'", "expected object", "text after JSON object",
	"text after JSON value",
}

// closedReason reports whether reason is one of the fixed texts, naming at
// most a key column: then it cannot hold payload bytes.
func (o *oracle) closedReason(reason string) bool {
	switch reason {
	case ReasonEmpty, ReasonNotObject, ReasonNoMetadata, ReasonMetadataNotObj, ReasonNoRecordType,
		ReasonRecordTypeNotStr, ReasonUnknownType, ReasonNoSchema, ReasonNoTable:
		return true
	}
	if rest, ok := strings.CutPrefix(reason, "invalid JSON: "); ok {
		return slices.Contains(scanReasons, rest)
	}
	var cols []string
	for _, s := range fuzzRules {
		_, c, _ := strings.Cut(s, "=")
		cols = append(cols, strings.Split(c, ",")...)
	}
	for _, c := range o.learned {
		cols = append(cols, c...)
	}
	for _, c := range cols {
		q := strconv.Quote(c)
		if reason == "missing key column "+q || reason == "no data object (key column "+q+")" ||
			reason == "data is not an object (key column "+q+")" {
			return true
		}
	}
	return false
}

// learnable returns control.table-def.primary-key if it is a non-empty
// array of strings.
func learnable(control json.RawMessage) []string {
	c, ok := object(control)
	if !ok {
		return nil
	}
	def, ok := object(c["table-def"])
	if !ok {
		return nil
	}
	var elems []json.RawMessage
	pk := bytes.TrimLeft(def["primary-key"], " \t\r\n")
	if len(pk) == 0 || pk[0] != '[' || json.Unmarshal(pk, &elems) != nil || len(elems) == 0 {
		return nil
	}
	cols := make([]string, len(elems))
	for i, e := range elems {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &cols[i]) != nil {
			return nil
		}
	}
	return cols
}

// reindent puts whitespace around every structural character outside
// strings, as a pretty printer would.
func reindent(b []byte) []byte {
	var out []byte
	out = append(out, " \n"...)
	inStr, esc := false, false
	for _, c := range b {
		switch {
		case inStr:
			out = append(out, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		case c == '"':
			inStr = true
			out = append(out, c)
		case c == '{' || c == '[' || c == ',':
			out = append(out, c, '\n', '\t', '\t')
		case c == ':':
			out = append(out, ' ', c, ' ', '\t')
		case c == '}' || c == ']':
			out = append(out, '\r', '\n', c)
		default:
			out = append(out, c)
		}
	}
	return append(out, "\n\t"...)
}

// reorder rewrites a valid payload with the members of the payload object,
// of metadata and of data in reverse name order, duplicates resolved (last
// wins) and values kept raw: the same record to the contract.
func reorder(payload []byte) []byte {
	top, ok := object(payload)
	if !ok {
		return nil
	}
	for _, name := range []string{"metadata", "data"} {
		if m, ok := object(top[name]); ok {
			top[name] = emit(m)
		}
	}
	return emit(top)
}

func emit(m map[string]json.RawMessage) []byte {
	names := slices.Sorted(maps.Keys(m))
	slices.Reverse(names)
	out := []byte{'{'}
	for i, n := range names {
		if i > 0 {
			out = append(out, ',')
		}
		q, _ := json.Marshal(n)
		out = append(append(append(out, q...), ':'), m[n]...)
	}
	return append(out, '}')
}

func scalar(tok []byte) bool { return tok[0] != '{' && tok[0] != '[' }

// checkRoute routes prev then payload on a fresh Router and on the oracle
// and demands that they agree on both.
func checkRoute(t *testing.T, rules *KeyRules, prev, payload []byte) Decision {
	t.Helper()
	var o oracle
	r := NewRouter(rules, Learned{})
	var d Decision
	for i, p := range [][]byte{prev, payload} {
		r.Route(p, &d)
		w := o.route(p)
		if d.Kind != w.kind {
			t.Fatalf("record %d: kind %v (%s), oracle says %v\n%q", i, d.Kind, d.ReasonText(), w.kind, p)
		}
		if d.Kind == KindInvalid {
			if d.Key != 0 || d.KeySource != SourceNone {
				t.Fatalf("record %d: invalid with key %x source %v", i, d.Key, d.KeySource)
			}
			if !o.closedReason(d.Reason) {
				t.Fatalf("record %d: reason %q is not one of the fixed forms", i, d.Reason)
			}
			continue
		}
		if d.KeySource != w.source {
			t.Fatalf("record %d: key source %v, oracle says %v\n%q", i, d.KeySource, w.source, p)
		}
		if string(d.Schema) != w.schema || string(d.Table) != w.table {
			t.Fatalf("record %d: names %q.%q, oracle says %q.%q", i, d.Schema, d.Table, w.schema, w.table)
		}
		if d.Key != Hash(w.material) {
			t.Fatalf("record %d: key %016x, oracle material %q hashes to %016x\n%q", i, d.Key, w.material, Hash(w.material), p)
		}
	}
	return d
}

func FuzzRoute(f *testing.F) {
	for _, v := range loadVectors(f) {
		ps := v.payloads(f)
		prev := []byte{}
		if len(ps) > 1 {
			prev = ps[len(ps)-2]
		}
		f.Add(prev, ps[len(ps)-1])
	}
	for _, e := range dmsExamples {
		f.Add([]byte(dmsExamples[1]), []byte(e))
		f.Add([]byte{}, []byte(e))
	}
	f.Add([]byte(cdcCreateTable), readTestdata(f, "cdc_update.json"))
	rules := mustRules(f, fuzzRules...)
	f.Fuzz(func(t *testing.T, prev, payload []byte) {
		d := checkRoute(t, rules, prev, payload)
		// Whitespace between tokens is not part of any key, except inside
		// a key value that is itself an object or array (raw text).
		re := reindent(payload)
		var o oracle
		o.route(prev)
		w := o.route(payload)
		d2 := checkRoute(t, rules, prev, re)
		if d.Kind != d2.Kind {
			t.Fatalf("re-indenting changed kind %v to %v", d.Kind, d2.Kind)
		}
		if d.Kind == KindInvalid {
			return
		}
		// Member order and duplicates resolved as the contract says (last
		// wins) must not change anything either.
		d3 := checkRoute(t, rules, prev, reorder(payload))
		if d3.Kind != d.Kind || d3.KeySource != d.KeySource || d3.Key != d.Key {
			t.Fatalf("reordering members changed %v/%v/%016x to %v/%v/%016x\n%q\n%q",
				d.Kind, d.KeySource, d.Key, d3.Kind, d3.KeySource, d3.Key, payload, reorder(payload))
		}
		for _, tok := range w.tokens {
			if !scalar(tok) {
				return
			}
		}
		if d.Key != d2.Key {
			t.Fatalf("re-indenting changed key %016x to %016x\n%q\n%q", d.Key, d2.Key, payload, re)
		}
	})
}

// TestRoute_AgreesWithOracleOnVectors runs the fuzz oracle over the vectors,
// so a wrong oracle shows up without fuzzing.
func TestRoute_AgreesWithOracleOnVectors(t *testing.T) {
	rules := mustRules(t, fuzzRules...)
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			ps := v.payloads(t)
			for i := range ps {
				prev := []byte{}
				if i > 0 {
					prev = ps[i-1]
				}
				d := checkRoute(t, rules, prev, ps[i])
				checkRoute(t, rules, prev, reindent(ps[i]))
				if d.Kind != KindInvalid {
					if d2 := checkRoute(t, rules, prev, reorder(ps[i])); d2.Key != d.Key || d2.Kind != d.Kind {
						t.Errorf("record %d: reordering changed the key", i)
					}
				}
			}
		})
	}
}

func FuzzScannerSkip(f *testing.F) {
	for _, v := range loadVectors(f) {
		for _, p := range v.payloads(f) {
			f.Add(p)
		}
	}
	for _, s := range []string{
		``, ` `, `0`, `-0`, `-`, `01`, `1.`, `1e`, `1e+`, `.5`, `1E+400`, `-1.5e-7`,
		`""`, `"\u00e9\ud83d\ude00"`, `"\ud800"`, `"\udc00\ud800x"`, `"\u12"`, `"\x"`, "\"\t\"",
		`[]`, `[1,]`, `[,1]`, `{}`, `{"a":}`, `{"a":1,}`, `{"a" 1}`, `{1:2}`, `[[[]]]`, `[{"a":[{}]}]`,
		`true`, `tru`, `nul`, `false `, ` null`, `[1] [2]`, `{"a":"b"}x`,
		"\"\xff\"", "\"\xed\xa0\x80\"", "\"\xc3\"", "\xef\xbb\xbf{}", "\"\xef\xbf\xbd\"",
		// Nesting limits are in TestScanner_DepthLimitMatchesEncodingJSON:
		// 20 kB seeds make the fuzzer spend its time minimizing them.
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s scanner
		s.reset(data)
		skipped := s.skip()
		if !skipped && s.err.reason == "" {
			t.Fatalf("rejected without a reason")
		}
		ok := skipped
		if ok {
			s.ws()
			ok = s.i == len(data)
		}
		if !utf8.Valid(data) {
			// json.Valid takes invalid UTF-8 inside strings; we never do.
			if ok {
				t.Fatalf("accepted invalid UTF-8 %q", data)
			}
			return
		}
		if ok != json.Valid(data) {
			t.Fatalf("skip %v, json.Valid %v (%s at %d)\n%q", ok, !ok, s.err.reason, s.err.offset, data)
		}
		if !ok {
			return
		}
		// A string's decoded form must match encoding/json's.
		trimmed := bytes.Trim(data, " \t\r\n")
		if trimmed[0] == '"' {
			var want string
			if err := json.Unmarshal(trimmed, &want); err != nil {
				t.Fatal(err)
			}
			if got := appendUnescaped(nil, trimmed[1:len(trimmed)-1]); string(got) != want {
				t.Fatalf("unescaped %q, encoding/json %q", got, want)
			}
		}
	})
}
