package repartition

import (
	"slices"
	"strings"
	"testing"
)

func TestParseKeyRule_Accepts(t *testing.T) {
	tests := []struct {
		in   string
		want KeyRule
	}{
		{"sales.orders=order_id", KeyRule{"sales", "orders", []string{"order_id"}}},
		{"sales.order_lines=order_id,line_no", KeyRule{"sales", "order_lines", []string{"order_id", "line_no"}}},
		{"*.*=id", KeyRule{"*", "*", []string{"id"}}},
		{"sales.*=id", KeyRule{"sales", "*", []string{"id"}}},
		{"*.orders=id", KeyRule{"*", "orders", []string{"id"}}},
		// The schema ends at the first '.': a table may hold dots.
		{"sales.orders.v2=id", KeyRule{"sales", "orders.v2", []string{"id"}}},
		{"sales.a.b.c=id", KeyRule{"sales", "a.b.c", []string{"id"}}},
		// Column names are taken exactly: case and spaces matter.
		{"S.T=Order ID, x", KeyRule{"S", "T", []string{"Order ID", " x"}}},
		{"ventes.commandes_é=clé", KeyRule{"ventes", "commandes_é", []string{"clé"}}},
		// The first '=' ends the target, so a column may hold '='.
		{"s.t=a=b", KeyRule{"s", "t", []string{"a=b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKeyRule(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Schema != tt.want.Schema || got.Table != tt.want.Table || !slices.Equal(got.Columns, tt.want.Columns) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
			if got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestParseKeyRule_Rejects(t *testing.T) {
	tests := []struct{ name, in, errPart string }{
		{"no equals sign", "sales.orders", "want SCHEMA.TABLE=COL"},
		{"empty", "", "want SCHEMA.TABLE=COL"},
		{"no dot", "orders=id", "want SCHEMA.TABLE before"},
		{"empty target", "=id", "want SCHEMA.TABLE before"},
		{"empty schema", ".orders=id", "want SCHEMA.TABLE before"},
		{"empty table", "sales.=id", "want SCHEMA.TABLE before"},
		{"no columns", "sales.orders=", "empty column name"},
		{"empty column in the middle", "sales.orders=a,,b", "empty column name"},
		{"trailing comma", "sales.orders=a,", "empty column name"},
		{"leading comma", "sales.orders=,a", "empty column name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseKeyRule(tt.in)
			if err == nil {
				t.Fatalf("accepted %q as %#v", tt.in, r)
			}
			if !strings.Contains(err.Error(), tt.errPart) || !strings.Contains(err.Error(), `"`+tt.in+`"`) {
				t.Errorf("error %q, want it to name the rule and say %q", err, tt.errPart)
			}
		})
	}
}

func parseRules(t *testing.T, specs ...string) []KeyRule {
	t.Helper()
	var rules []KeyRule
	for _, s := range specs {
		r, err := ParseKeyRule(s)
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, r)
	}
	return rules
}

func TestNewKeyRules_RejectsDuplicates(t *testing.T) {
	tests := []struct {
		name  string
		rules []string
	}{
		{"exact twice", []string{"s.t=a", "s.t=b"}},
		{"exact twice, same columns", []string{"s.t=a", "s.t=a"}},
		{"schema.* twice", []string{"s.*=a", "s.*=b"}},
		{"*.table twice", []string{"*.t=a", "*.t=b"}},
		{"*.* twice", []string{"*.*=a", "*.*=b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKeyRules(parseRules(t, tt.rules...))
			if err == nil {
				t.Fatalf("accepted duplicates %q", tt.rules)
			}
			if k != nil {
				t.Errorf("returned rules with an error")
			}
			if !strings.Contains(err.Error(), "given twice") {
				t.Errorf("error %q", err)
			}
		})
	}
}

func TestNewKeyRules_ReportsEveryMistake(t *testing.T) {
	rules := parseRules(t, "s.t=a", "s.t=b", "*.*=x", "*.*=y")
	rules = append(rules, KeyRule{Schema: "s", Table: "u"})
	_, err := NewKeyRules(rules)
	if err == nil {
		t.Fatal("no error")
	}
	for _, part := range []string{"s.t given twice", "*.* given twice", "s.u=: no columns"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q lacks %q", err, part)
		}
	}
}

func TestNewKeyRules_DistinctPatternsAreNotDuplicates(t *testing.T) {
	specs := []string{"s.t=a", "s.*=b", "*.t=c", "*.*=d", "t.s=e", "s.t.x=f"}
	k, err := NewKeyRules(parseRules(t, specs...))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range k.Rules() {
		got = append(got, r.String())
	}
	if !slices.Equal(got, specs) {
		t.Errorf("Rules() = %q, want %q as given", got, specs)
	}
}

func TestKeyRules_MostSpecificWins(t *testing.T) {
	all := []string{"sales.orders=exact", "sales.*=schema", "*.orders=table", "*.*=any"}
	tests := []struct {
		name          string
		rules         []string
		schema, table string
		want          string // "" for no rule
	}{
		{"exact beats all", all, "sales", "orders", "exact"},
		{"schema.* beats *.table", all, "sales", "items", "schema"},
		{"schema.* beats *.table without exact", []string{"*.orders=table", "sales.*=schema"}, "sales", "orders", "schema"},
		{"*.table beats *.*", all, "hr", "orders", "table"},
		{"*.* catches the rest", all, "hr", "people", "any"},
		{"no match", []string{"sales.orders=exact", "sales.*=schema"}, "hr", "people", ""},
		{"names are case-sensitive", []string{"Sales.Orders=exact"}, "sales", "orders", ""},
		{"star is only a whole-name wildcard", []string{"sal*.orders=exact"}, "sales", "orders", ""},
		{"table with dot is exact", []string{"sales.orders.v2=exact"}, "sales", "orders.v2", "exact"},
		{"table with dot does not split the schema", []string{"sales.orders.v2=exact"}, "sales.orders", "v2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Rule order must not matter.
			for _, perm := range [][]string{tt.rules, reversed(tt.rules)} {
				k, err := NewKeyRules(parseRules(t, perm...))
				if err != nil {
					t.Fatal(err)
				}
				var tmp []byte
				cols, ok := k.lookup([]byte(tt.schema), []byte(tt.table), &tmp)
				got := ""
				if ok {
					got = strings.Join(cols, ",")
				}
				if got != tt.want {
					t.Fatalf("rules %q: %s.%s got %q, want %q", perm, tt.schema, tt.table, got, tt.want)
				}
			}
		})
	}
}

func reversed(s []string) []string {
	r := slices.Clone(s)
	slices.Reverse(r)
	return r
}

func TestKeyRules_NilHasNoRules(t *testing.T) {
	var k *KeyRules
	var tmp []byte
	if cols, ok := k.lookup([]byte("s"), []byte("t"), &tmp); ok || cols != nil {
		t.Fatalf("nil rules matched %q", cols)
	}
}

func TestLearned_ApplyAndTables(t *testing.T) {
	var l Learned
	l.Apply(LearnSet, "s", "t", []string{"a"})
	l.Apply(LearnSet, "s", "u", []string{"b", "c"})
	l.Apply(LearnSet, "s", "t", []string{"z"}) // replaces
	l.Apply(LearnForget, "s", "u", nil)
	l.Apply(LearnForget, "x", "y", nil) // unknown: no-op
	l.Apply(LearnNone, "s", "v", []string{"q"})
	got := l.Tables()
	if len(got) != 1 || got[0].Schema != "s" || got[0].Table != "t" || !slices.Equal(got[0].Columns, []string{"z"}) {
		t.Fatalf("Tables() = %+v", got)
	}
	if l.Len() != 1 {
		t.Errorf("Len() = %d", l.Len())
	}
	var zero Learned
	if zero.Len() != 0 || len(zero.Tables()) != 0 {
		t.Errorf("zero Learned not empty")
	}
	zero.Apply(LearnForget, "s", "t", nil) // must not panic
}

func TestKeyRules_ExactRuleNamesAreNotSplitAmbiguously(t *testing.T) {
	k, err := NewKeyRules([]KeyRule{
		{Schema: "a", Table: "b\x00c", Columns: []string{"one"}},
		{Schema: "a\x00b", Table: "c", Columns: []string{"two"}},
	})
	if err != nil {
		t.Fatalf("distinct tables reported as duplicates: %v", err)
	}
	var tmp []byte
	for _, tt := range []struct{ schema, table, want string }{
		{"a", "b\x00c", "one"}, {"a\x00b", "c", "two"},
	} {
		cols, _ := k.lookup([]byte(tt.schema), []byte(tt.table), &tmp)
		if len(cols) != 1 || cols[0] != tt.want {
			t.Errorf("%q.%q: %q, want %s", tt.schema, tt.table, cols, tt.want)
		}
	}
}
