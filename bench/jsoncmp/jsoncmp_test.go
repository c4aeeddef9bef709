package jsoncmp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/repartd/repartd/repartition"
	"github.com/valyala/fastjson"
)

const testdata = "../../repartition/testdata/"

// record is one data record with a configured key, as the three extractors
// take it.
type record struct {
	name    string
	rule    []string // --key rules for the Router
	cols    []string // key columns, for encoding/json and fastjson
	payload []byte
}

// records returns testdata/cdc_update.json (the benchmark record) and the
// single-record data vectors of testdata/keys.jsonl keyed by a --key rule.
func records(t testing.TB) []record {
	t.Helper()
	cdc, err := os.ReadFile(testdata + "cdc_update.json")
	if err != nil {
		t.Fatal(err)
	}
	out := []record{{"cdc_update", []string{"sales.orders=id"}, []string{"id"}, bytes.TrimSpace(cdc)}}
	f, err := os.Open(testdata + "keys.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v struct {
			Name      string   `json:"name"`
			Rules     []string `json:"rules"`
			Records   []string `json:"records"`
			Kind      string   `json:"kind"`
			KeySource string   `json:"key_source"`
			Columns   []string `json:"columns"`
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if v.Kind == "data" && v.KeySource == "columns" && len(v.Records) == 1 {
			out = append(out, record{v.Name, v.Rules, v.Columns, []byte(v.Records[0])})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func router(t testing.TB, specs []string) *repartition.Router {
	t.Helper()
	var rules []repartition.KeyRule
	for _, s := range specs {
		r, err := repartition.ParseKeyRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	k, err := repartition.NewKeyRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return repartition.NewRouter(k, repartition.Learned{})
}

// agreeing names records on which all three extractors must give the same
// key: numbers, literals, strings, member order, key rules and names. On the
// other records the test only logs who differs from the Router (the
// contract, pinned by repartition's key vectors): fastjson on raw object and
// array tokens and on duplicate members, StdlibKey where a duplicate
// metadata member of another type makes Unmarshal fail. See README.md.
var agreeing = []string{
	"cdc_update", "single_int_key_full_load", "composite_key_in_rule_order",
	"string_key_plain", "string_key_escaped_quote", "string_key_u00e9_escape_kept_raw",
	"number_negative", "number_exponent", "number_big_int_beyond_uint64",
	"null_key_value", "true_key_value", "key_column_last_of_many",
	"metadata_before_data", "unicode_schema_and_table", "rule_column_case_sensitive",
}

func TestKeys_AgreeOnTestdata(t *testing.T) {
	var p fastjson.Parser
	seen := map[string]bool{}
	for _, rec := range records(t) {
		t.Run(rec.name, func(t *testing.T) {
			var d repartition.Decision
			router(t, rec.rule).Route(rec.payload, &d)
			if d.Kind != repartition.KindData || d.KeySource != repartition.SourceColumns {
				t.Fatalf("Router: kind %v source %v (%s)", d.Kind, d.KeySource, d.ReasonText())
			}
			std, _, stdOK := StdlibKey(rec.payload, rec.cols, nil)
			fj, _, fjOK := FastjsonKey(&p, rec.payload, rec.cols, nil)
			report := t.Logf
			if slices.Contains(agreeing, rec.name) {
				seen[rec.name] = true
				report = t.Errorf
			}
			if !stdOK || std != d.Key {
				report("encoding/json key %016x ok %v, Router %016x", std, stdOK, d.Key)
			}
			if !fjOK || fj != d.Key {
				report("fastjson key %016x ok %v, Router %016x", fj, fjOK, d.Key)
			}
			if fv, _, ok := FastjsonValidKey(&p, rec.payload, rec.cols, nil); ok != fjOK || fv != fj {
				t.Errorf("fastjson validated key %016x ok %v, unvalidated %016x ok %v", fv, ok, fj, fjOK)
			}
		})
	}
	for _, name := range agreeing {
		if !seen[name] {
			t.Errorf("record %s not found in testdata", name)
		}
	}
}

// BenchmarkKey extracts the key of testdata/cdc_update.json (a 546-byte CDC
// update, 15 columns, key column id) three ways, side by side; fastjson both
// alone (lenient) and behind ValidateBytes (the Router's and encoding/json's
// level of validation).
func BenchmarkKey(b *testing.B) {
	rec := records(b)[0]
	r := router(b, rec.rule)
	var d repartition.Decision
	r.Route(rec.payload, &d)
	var p fastjson.Parser
	if k, _, ok := StdlibKey(rec.payload, rec.cols, nil); !ok || k != d.Key {
		b.Fatalf("encoding/json key %016x, Router %016x", k, d.Key)
	}
	if k, _, ok := FastjsonKey(&p, rec.payload, rec.cols, nil); !ok || k != d.Key {
		b.Fatalf("fastjson key %016x, Router %016x", k, d.Key)
	}
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(rec.payload)))
			for b.Loop() {
				f()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
	var material []byte
	run("repartition", func() { r.Route(rec.payload, &d) })
	run("encoding_json", func() { _, material, _ = StdlibKey(rec.payload, rec.cols, material) })
	run("fastjson", func() { _, material, _ = FastjsonKey(&p, rec.payload, rec.cols, material) })
	run("fastjson_validate", func() { _, material, _ = FastjsonValidKey(&p, rec.payload, rec.cols, material) })
}
