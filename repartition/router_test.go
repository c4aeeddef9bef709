package repartition

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// vector is one line of testdata/keys.jsonl, written by
// testdata/gen_vectors.py (an independent XXH64 in Python). Regenerate with
// `python3 repartition/testdata/gen_vectors.py` and review the diff.
type vector struct {
	Name            string   `json:"name"`
	Rules           []string `json:"rules"`
	Records         []string `json:"records"`
	RecordsBase64   []string `json:"records_base64"`
	Kind            string   `json:"kind"`
	KeySource       string   `json:"key_source"`
	Schema          string   `json:"schema"`
	Table           string   `json:"table"`
	Columns         []string `json:"columns"`
	Tokens          []string `json:"tokens"`
	MaterialHex     string   `json:"material_hex"`
	Key             string   `json:"key"`
	PartitionKey    string   `json:"partition_key"`
	ExplicitHashKey string   `json:"explicit_hash_key"`
	ReasonContains  string   `json:"reason_contains"`
}

// payloads returns the vector's records as bytes.
func (v vector) payloads(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, r := range v.Records {
		out = append(out, []byte(r))
	}
	for _, r := range v.RecordsBase64 {
		b, err := base64.StdEncoding.DecodeString(r)
		if err != nil {
			t.Fatalf("%s: records_base64: %v", v.Name, err)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no records", v.Name)
	}
	return out
}

func (v vector) router(t testing.TB) *Router {
	t.Helper()
	var rules []KeyRule
	for _, s := range v.Rules {
		r, err := ParseKeyRule(s)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		rules = append(rules, r)
	}
	kr, err := NewKeyRules(rules)
	if err != nil {
		t.Fatalf("%s: %v", v.Name, err)
	}
	return NewRouter(kr, Learned{})
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	f, err := os.Open("testdata/keys.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		var v vector
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("keys.jsonl:%d: %v", line, err)
		}
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 40 {
		t.Fatalf("keys.jsonl holds %d vectors, want at least 40", len(vs))
	}
	return vs
}

// routeAll feeds every record of v to a fresh Router and returns the
// decision on the last one.
func routeAll(t testing.TB, v vector) (Decision, []byte) {
	t.Helper()
	r := v.router(t)
	ps := v.payloads(t)
	var d Decision
	for _, p := range ps {
		r.Route(p, &d)
	}
	return d, ps[len(ps)-1]
}

func TestRoute_Vectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			d, _ := routeAll(t, v)
			if got := d.Kind.String(); got != v.Kind {
				t.Fatalf("kind %s (reason %q), want %s", got, d.ReasonText(), v.Kind)
			}
			if got := d.KeySource.String(); got != v.KeySource {
				t.Errorf("key source %q, want %q", got, v.KeySource)
			}
			if d.Kind == KindInvalid {
				if d.Key != 0 {
					t.Errorf("invalid record has key %016x", d.Key)
				}
				if v.ReasonContains == "" || !strings.Contains(d.Reason, v.ReasonContains) {
					t.Errorf("reason %q, want it to contain %q", d.Reason, v.ReasonContains)
				}
				return
			}
			if got := string(d.Schema); got != v.Schema {
				t.Errorf("schema %q, want %q", got, v.Schema)
			}
			if got := string(d.Table); got != v.Table {
				t.Errorf("table %q, want %q", got, v.Table)
			}
			wantReason := ""
			if d.Kind == KindData && d.KeySource == SourceTable {
				wantReason = ReasonNoKeyColumns
			}
			if d.Reason != wantReason {
				t.Errorf("reason %q, want %q", d.Reason, wantReason)
			}

			// The material the vector spells out, built by the Go API.
			var toks [][]byte
			for _, tok := range v.Tokens {
				toks = append(toks, []byte(tok))
			}
			material := AppendKeyMaterial(nil, []byte(v.Schema), []byte(v.Table), toks...)
			if got := hex.EncodeToString(material); got != v.MaterialHex {
				t.Errorf("AppendKeyMaterial = %s, want %s", got, v.MaterialHex)
			}
			want, err := strconv.ParseUint(v.Key, 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			if h := Hash(material); h != want {
				t.Errorf("Hash(material) = %016x, want %s (Python XXH64)", h, v.Key)
			}
			if d.Key != want {
				t.Errorf("Route key %016x, want %s", d.Key, v.Key)
			}
			if got := string(AppendPartitionKey(nil, d.Key)); got != v.PartitionKey {
				t.Errorf("PartitionKey %s, want %s", got, v.PartitionKey)
			}
			if got := string(AppendExplicitHashKey(nil, d.Key)); got != v.ExplicitHashKey {
				t.Errorf("ExplicitHashKey %s, want %s", got, v.ExplicitHashKey)
			}
		})
	}
}

// route runs payloads through one Router built from rules and returns the
// decision on the last one.
func route(t *testing.T, rules []string, payloads ...string) Decision {
	t.Helper()
	d, _ := routeAll(t, vector{Name: t.Name(), Rules: rules, Records: payloads})
	return d
}

func keyOf(schema, table string, tokens ...string) uint64 {
	var toks [][]byte
	for _, tok := range tokens {
		toks = append(toks, []byte(tok))
	}
	return Hash(AppendKeyMaterial(nil, []byte(schema), []byte(table), toks...))
}

const (
	createOrders = `{"control":{"table-def":{"columns":{"order_id":{"type":"INT32"}},"primary-key":["order_id"]}},"metadata":{"record-type":"control","operation":"create-table","schema-name":"sales","table-name":"orders"}}`
	dropOrders   = `{"control":{},"metadata":{"record-type":"control","operation":"drop-table","schema-name":"sales","table-name":"orders"}}`
)

func dataRecord(op, data string) string {
	return `{"data":` + data + `,"metadata":{"record-type":"data","operation":"` + op + `","schema-name":"sales","table-name":"orders"}}`
}

func TestRoute_UnknownOperationIsRoutedByRecordType(t *testing.T) {
	for _, op := range []string{"upsert", "", "INSERT", "truncate", "read"} {
		t.Run("data/"+op, func(t *testing.T) {
			d := route(t, []string{"sales.orders=order_id"}, dataRecord(op, `{"order_id":7}`))
			if d.Kind != KindData || d.KeySource != SourceColumns || d.Key != keyOf("sales", "orders", "7") {
				t.Fatalf("got %v/%v %q", d.Kind, d.KeySource, d.Reason)
			}
			if string(d.Operation) != op {
				t.Errorf("operation %q, want %q", d.Operation, op)
			}
		})
		t.Run("control/"+op, func(t *testing.T) {
			p := `{"control":{},"metadata":{"record-type":"control","operation":"` + op + `","schema-name":"sales","table-name":"orders"}}`
			d := route(t, nil, p)
			if d.Kind != KindControl || d.Key != keyOf("sales", "orders") || d.Learn != LearnNone {
				t.Fatalf("got %v key %016x learn %v", d.Kind, d.Key, d.Learn)
			}
		})
	}
}

func TestRoute_NonStringOperationIsNotInvalid(t *testing.T) {
	p := `{"data":{"order_id":7},"metadata":{"record-type":"data","operation":3,"schema-name":"sales","table-name":"orders"}}`
	d := route(t, []string{"sales.orders=order_id"}, p)
	if d.Kind != KindData || d.Operation != nil {
		t.Fatalf("got %v operation %q, reason %q", d.Kind, d.Operation, d.Reason)
	}
}

func TestRoute_DecodesMetadataStrings(t *testing.T) {
	p := `{"metadata":{"record-type":"data","operation":"upd\u0061te","partition-key-type":"schema\u002dtable","schema-name":"s\u00e9","table-name":"t\"1"}}`
	d := route(t, nil, p)
	if string(d.Operation) != "update" || string(d.PartitionKeyType) != "schema-table" ||
		string(d.Schema) != "sé" || string(d.Table) != `t"1` {
		t.Fatalf("got op %q pkt %q schema %q table %q", d.Operation, d.PartitionKeyType, d.Schema, d.Table)
	}
}

func TestRoute_LearnReportsTheChangeItMade(t *testing.T) {
	tests := []struct {
		name     string
		records  []string
		want     LearnOp
		wantCols []string
		wantLen  int
	}{
		{"create-table teaches", []string{createOrders}, LearnSet, []string{"order_id"}, 1},
		{"repeated create-table teaches again", []string{createOrders, createOrders}, LearnSet, []string{"order_id"}, 1},
		{"drop-table forgets", []string{createOrders, dropOrders}, LearnForget, nil, 0},
		{"drop-table of an unknown table changes nothing", []string{dropOrders}, LearnNone, nil, 0},
		{"create-table without table-def changes nothing", []string{strings.Replace(dropOrders, "drop-table", "create-table", 1)}, LearnNone, nil, 0},
		{"data record changes nothing", []string{createOrders, dataRecord("insert", `{"order_id":1}`)}, LearnNone, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRouter(nil, Learned{})
			var d Decision
			for _, p := range tt.records {
				r.Route([]byte(p), &d)
			}
			if d.Learn != tt.want || !slices.Equal(d.LearnColumns, tt.wantCols) {
				t.Errorf("learn %v %q, want %v %q", d.Learn, d.LearnColumns, tt.want, tt.wantCols)
			}
			if n := r.Learned().Len(); n != tt.wantLen {
				t.Errorf("learned %d tables, want %d", n, tt.wantLen)
			}
		})
	}
}

func TestRoute_LearnedStateSurvivesRestart(t *testing.T) {
	r := NewRouter(nil, Learned{})
	var d Decision
	r.Route([]byte(createOrders), &d)
	// A checkpoint stores Tables(); a restart rebuilds Learned from it.
	var restored Learned
	for _, tk := range r.Learned().Tables() {
		restored.Apply(LearnSet, tk.Schema, tk.Table, tk.Columns)
	}
	clone := r.Learned().Clone()
	for name, l := range map[string]Learned{"restored": restored, "clone": clone} {
		t.Run(name, func(t *testing.T) {
			r2 := NewRouter(nil, l)
			r2.Route([]byte(dataRecord("insert", `{"order_id":12}`)), &d)
			if d.KeySource != SourceControl || d.Key != keyOf("sales", "orders", "12") {
				t.Fatalf("got %v %016x", d.KeySource, d.Key)
			}
		})
	}
	// The clone is independent: forgetting in r leaves it alone.
	r.Route([]byte(dropOrders), &d)
	if r.Learned().Len() != 0 || clone.Len() != 1 {
		t.Fatalf("router has %d tables, clone %d", r.Learned().Len(), clone.Len())
	}
}

func TestRoute_FirstFallbackOncePerTable(t *testing.T) {
	r := NewRouter(nil, Learned{})
	var d Decision
	seq := []struct {
		table string
		want  bool
	}{{"a", true}, {"a", false}, {"b", true}, {"a", false}, {"b", false}}
	for i, s := range seq {
		p := `{"data":{"id":1},"metadata":{"record-type":"data","schema-name":"s","table-name":"` + s.table + `"}}`
		r.Route([]byte(p), &d)
		if d.KeySource != SourceTable || d.FirstFallback != s.want {
			t.Fatalf("record %d (%s): source %v first %v, want first %v", i, s.table, d.KeySource, d.FirstFallback, s.want)
		}
	}
}

func TestRoute_PKChangedOnlyWhenBeforeImageKeyDiffers(t *testing.T) {
	rec := func(op, data, bi string) string {
		return `{"data":` + data + `,"before-image":` + bi + `,"metadata":{"record-type":"data","operation":"` + op + `","schema-name":"sales","table-name":"orders"}}`
	}
	rules := []string{"sales.orders=order_id,line"}
	tests := []struct {
		name, payload string
		want          bool
	}{
		{"changed", rec("update", `{"order_id":2,"line":1}`, `{"order_id":1,"line":1}`), true},
		{"same", rec("update", `{"order_id":2,"line":1}`, `{"order_id":2,"line":1}`), false},
		{"value-only update", rec("update", `{"order_id":2,"line":1,"x":3}`, `{}`), false},
		{"partial before-image proves nothing", rec("update", `{"order_id":2,"line":1}`, `{"order_id":1}`), false},
		{"raw text differs", rec("update", `{"order_id":2,"line":1}`, `{"order_id":2.0,"line":1}`), true},
		{"not an update", rec("insert", `{"order_id":2,"line":1}`, `{"order_id":1,"line":1}`), false},
		{"before-image not an object", rec("update", `{"order_id":2,"line":1}`, `null`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := route(t, rules, tt.payload)
			if d.Kind != KindData || d.PKChanged != tt.want {
				t.Fatalf("kind %v PKChanged %v, want %v (reason %q)", d.Kind, d.PKChanged, tt.want, d.Reason)
			}
			if d.Key != keyOf("sales", "orders", "2", "1") {
				t.Errorf("not routed by data's key")
			}
		})
	}
}

func TestRoute_SyntaxErrorReportsOffset(t *testing.T) {
	d := route(t, nil, `{"data":{"a":01}}`)
	if d.Kind != KindInvalid || d.Offset != 14 {
		t.Fatalf("kind %v offset %d reason %q", d.Kind, d.Offset, d.Reason)
	}
	if got := d.ReasonText(); !strings.HasSuffix(got, " at byte 14") {
		t.Errorf("ReasonText %q", got)
	}
	d = route(t, nil, `{"data":{}}`)
	if d.Offset != -1 || d.ReasonText() != ReasonNoMetadata {
		t.Errorf("offset %d text %q", d.Offset, d.ReasonText())
	}
}

// A Router reuses its buffers; nothing of one record may leak into the next.
func TestRoute_ReusedRouterForgetsPreviousRecord(t *testing.T) {
	r := NewRouter(mustRules(t, "sales.orders=order_id"), Learned{})
	var d Decision
	r.Route([]byte(dataRecord("update", `{"order_id":1}`)), &d)
	if d.Kind != KindData {
		t.Fatal(d.Reason)
	}
	for _, p := range []string{
		`{"metadata":{"record-type":"data","schema-name":"sales","table-name":"orders"}}`,
		`{"data":{"x":1},"metadata":{"record-type":"data","schema-name":"sales","table-name":"orders"}}`,
		`{"data":{"order_id":1},"metadata":{"record-type":"data","table-name":"orders"}}`,
		`{"data":{"order_id":1},"metadata":{"schema-name":"sales","table-name":"orders"}}`,
		`{"data":{"order_id":1}}`,
	} {
		r.Route([]byte(p), &d)
		if d.Kind != KindInvalid {
			t.Errorf("%s: kind %v, want invalid", p, d.Kind)
		}
		r.Route([]byte(dataRecord("update", `{"order_id":1}`)), &d)
	}
}

// JSON nesting is bounded as in encoding/json (10000 levels, counting the
// payload object itself), so a hostile record fails cleanly and agrees with
// json.Valid.
func TestRoute_NestingDepthMatchesEncodingJSON(t *testing.T) {
	for _, depth := range []int{maxDepth - 1, maxDepth, maxDepth + 1} {
		// The payload object and data make two levels.
		inner := strings.Repeat("[", depth-2) + strings.Repeat("]", depth-2)
		p := []byte(`{"data":{"order_id":` + inner + `},"metadata":{"record-type":"data","schema-name":"s","table-name":"t"}}`)
		d := route(t, []string{"s.t=order_id"}, string(p))
		if valid := json.Valid(p); (d.Kind != KindInvalid) != valid {
			t.Errorf("depth %d: kind %v (%s), json.Valid %v", depth, d.Kind, d.Reason, valid)
		}
	}
}

func mustRules(t testing.TB, specs ...string) *KeyRules {
	t.Helper()
	var rules []KeyRule
	for _, s := range specs {
		r, err := ParseKeyRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	k, err := NewKeyRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cdcCreateTable announces the table of testdata/cdc_update.json.
const cdcCreateTable = `{"control":{"table-def":{"columns":{"id":{"type":"INT64","nullable":false},"status":{"type":"STRING","length":16,"nullable":true}},"primary-key":["id"],"collation-name":"utf8mb4_0900_ai_ci"}},"metadata":{"timestamp":"2025-03-02T08:14:59.900000Z","record-type":"control","operation":"create-table","partition-key-type":"task-id","partition-key-value":"TASK7","schema-name":"sales","table-name":"orders"}}`

func TestRoute_AllocatesNothing(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	cdc := readTestdata(t, "cdc_update.json")
	escaped := []byte(`{"data":{"order\u005fid":"caf\u00e9","status":"NEW"},"metadata":{"record-type":"d\u0061ta","operation":"upd\u0061te","schema-name":"s\u0061les","table-name":"orders"}}`)
	tests := []struct {
		name    string
		rules   []string
		setup   []string
		payload []byte
		want    KeySource
	}{
		{"configured key", []string{"sales.orders=id"}, nil, cdc, SourceColumns},
		{"configured composite key", []string{"*.*=cust_id,id,status"}, nil, cdc, SourceColumns},
		{"learned key", nil, []string{cdcCreateTable}, cdc, SourceControl},
		{"table-level key", nil, nil, cdc, SourceTable},
		{"escaped names", []string{"sales.orders=order_id"}, nil, escaped, SourceColumns},
		{"create-table control record", nil, nil, []byte(cdcCreateTable), SourceTable},
		{"drop-table control record", nil, nil, []byte(dropOrders), SourceTable},
		{"task-level control record", nil, nil, []byte(`{"control":{},"metadata":{"record-type":"control","operation":"create-table","schema-name":"","table-name":""}}`), SourceTable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRouter(mustRules(t, tt.rules...), Learned{})
			var d Decision
			for _, p := range tt.setup {
				r.Route([]byte(p), &d)
			}
			r.Route(tt.payload, &d) // grows the buffers
			if d.Kind == KindInvalid || d.KeySource != tt.want {
				t.Fatalf("kind %v source %v reason %q", d.Kind, d.KeySource, d.Reason)
			}
			allocs := testing.AllocsPerRun(100, func() { r.Route(tt.payload, &d) })
			if allocs != 0 {
				t.Errorf("Route allocates %v times per record", allocs)
			}
		})
	}
}

// whitelist holds words a Reason may share with a payload: JSON structure,
// DMS metadata names and the column names of the vectors. Anything else of 4
// or more bytes that a Reason shares with its payload is a leak.
var whitelist = []string{
	"metadata", "record-type", "schema-name", "table-name", "before-image", "control",
	"data", "operation", "order_id", "line_no", "Order_ID", "line_NO",
}

func TestRoute_ReasonsHoldNoPayload(t *testing.T) {
	// Longest first, so "metadata" goes before "data".
	words := slices.Clone(whitelist)
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	strip := func(s string) string {
		for _, w := range words {
			s = strings.ReplaceAll(s, w, "\x00")
		}
		return s
	}
	n := 0
	for _, v := range loadVectors(t) {
		if v.Kind != "invalid" {
			continue
		}
		n++
		t.Run(v.Name, func(t *testing.T) {
			d, payload := routeAll(t, v)
			if d.Kind != KindInvalid {
				t.Fatalf("kind %v", d.Kind)
			}
			reason := strip(d.ReasonText())
			p := strip(string(payload))
			for i := 0; i+4 <= len(p); i++ {
				if w := p[i : i+4]; !strings.Contains(w, "\x00") && strings.Contains(reason, w) {
					t.Errorf("reason %q holds payload bytes %q", d.ReasonText(), w)
				}
			}
		})
	}
	if n < 20 {
		t.Fatalf("only %d invalid vectors", n)
	}
}

// ExampleRouter_Route shows the calls a reader makes per record.
func ExampleRouter_Route() {
	rule, _ := ParseKeyRule("sales.orders=order_id")
	rules, _ := NewKeyRules([]KeyRule{rule})
	r := NewRouter(rules, Learned{})
	var d Decision
	r.Route([]byte(`{"data":{"order_id":1001,"status":"NEW"},"metadata":{"record-type":"data","operation":"load","schema-name":"sales","table-name":"orders"}}`), &d)
	fmt.Println(d.Kind, d.KeySource, string(AppendPartitionKey(nil, d.Key)))
	// Output: data columns 267668dbef8a62e6
}

// Decoded names may hold any byte, NUL included, so learned state keyed by
// "schema NUL table" mixed up schema "a", table "b\0c" with schema "a\0b",
// table "c". Their key material is alike by contract; their key columns
// must not be.
func TestRoute_LearnedKeysStayWithTheirTable(t *testing.T) {
	create := `{"control":{"table-def":{"primary-key":["id"]}},"metadata":{"record-type":"control","operation":"create-table","schema-name":"a","table-name":"b\u0000c"}}`
	other := `{"data":{"id":1},"metadata":{"record-type":"data","schema-name":"a\u0000b","table-name":"c"}}`
	same := `{"data":{"id":1},"metadata":{"record-type":"data","schema-name":"a","table-name":"b\u0000c"}}`
	if d := route(t, nil, create, other); d.KeySource != SourceTable || !d.FirstFallback {
		t.Errorf("other table: source %v first fallback %v, want table-level, first", d.KeySource, d.FirstFallback)
	}
	if d := route(t, nil, create, same); d.KeySource != SourceControl {
		t.Errorf("same table: source %v, want learned", d.KeySource)
	}
	r := NewRouter(nil, Learned{})
	var d Decision
	r.Route([]byte(create), &d)
	if tk := r.Learned().Tables(); len(tk) != 1 || tk[0].Schema != "a" || tk[0].Table != "b\x00c" {
		t.Errorf("Tables() = %+v", tk)
	}
	// A drop of the other table forgets nothing.
	r.Route([]byte(`{"control":{},"metadata":{"record-type":"control","operation":"drop-table","schema-name":"a\u0000b","table-name":"c"}}`), &d)
	if d.Learn != LearnNone || r.Learned().Len() != 1 {
		t.Errorf("drop of another table: learn %v, %d tables left", d.Learn, r.Learned().Len())
	}
	// Warn-once state is per table too.
	r = NewRouter(nil, Learned{})
	r.Route([]byte(other), &d)
	r.Route([]byte(strings.Replace(same, `"id":1`, `"x":1`, 1)), &d)
	if !d.FirstFallback {
		t.Errorf("second table's first fallback not reported")
	}
}
