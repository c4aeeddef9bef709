package repartition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// KeyRule names the key columns of the tables it matches. Schema or Table
// may be "*", matching any.
type KeyRule struct {
	Schema, Table string
	Columns       []string
}

// String formats r as the --key flag takes it.
func (r KeyRule) String() string {
	return r.Schema + "." + r.Table + "=" + strings.Join(r.Columns, ",")
}

// ParseKeyRule parses SCHEMA.TABLE=COL[,COL...]. The schema ends at the
// first '.', so a table name may contain dots but a schema may not. Column
// names are taken exactly as written (case and spaces matter), as they are
// compared with the decoded JSON member names of data.
func ParseKeyRule(s string) (KeyRule, error) {
	target, cols, ok := strings.Cut(s, "=")
	if !ok {
		return KeyRule{}, fmt.Errorf("key rule %q: want SCHEMA.TABLE=COL[,COL...]", s)
	}
	schema, table, ok := strings.Cut(target, ".")
	if !ok || schema == "" || table == "" {
		return KeyRule{}, fmt.Errorf("key rule %q: want SCHEMA.TABLE before '=' (use * for any)", s)
	}
	r := KeyRule{Schema: schema, Table: table}
	for c := range strings.SplitSeq(cols, ",") {
		if c == "" {
			return KeyRule{}, fmt.Errorf("key rule %q: empty column name", s)
		}
		r.Columns = append(r.Columns, c)
	}
	return r, nil
}

// KeyRules answers which configured key columns apply to a table. The most
// specific rule wins: exact, then schema.*, then *.table, then *.*.
type KeyRules struct {
	exact  map[string][]string // tableID(schema, table)
	schema map[string][]string // schema.*
	table  map[string][]string // *.table
	all    []string            // *.*
	rules  []KeyRule
}

// NewKeyRules indexes rules. Two rules for the same pattern are an error:
// which one was meant cannot be guessed.
func NewKeyRules(rules []KeyRule) (*KeyRules, error) {
	k := &KeyRules{
		exact:  map[string][]string{},
		schema: map[string][]string{},
		table:  map[string][]string{},
	}
	var errs []error
	for _, r := range rules {
		if len(r.Columns) == 0 {
			errs = append(errs, fmt.Errorf("key rule %s: no columns", r))
			continue
		}
		var m map[string][]string
		var id string
		switch {
		case r.Schema == "*" && r.Table == "*":
			if k.all != nil {
				errs = append(errs, fmt.Errorf("key rule %s: *.* given twice", r))
				continue
			}
			k.all = r.Columns
			k.rules = append(k.rules, r)
			continue
		case r.Schema == "*":
			m, id = k.table, r.Table
		case r.Table == "*":
			m, id = k.schema, r.Schema
		default:
			m, id = k.exact, string(appendTableID(nil, []byte(r.Schema), []byte(r.Table)))
		}
		if _, dup := m[id]; dup {
			errs = append(errs, fmt.Errorf("key rule %s: %s.%s given twice", r, r.Schema, r.Table))
			continue
		}
		m[id] = r.Columns
		k.rules = append(k.rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return k, nil
}

// Rules returns the rules as given.
func (k *KeyRules) Rules() []KeyRule { return k.rules }

// lookup returns the configured columns for schema.table. tmp is scratch.
func (k *KeyRules) lookup(schema, table []byte, tmp *[]byte) ([]string, bool) {
	if k == nil {
		return nil, false
	}
	if len(k.exact) > 0 {
		*tmp = appendTableID((*tmp)[:0], schema, table)
		if c, ok := k.exact[string(*tmp)]; ok {
			return c, true
		}
	}
	if c, ok := k.schema[string(schema)]; ok {
		return c, true
	}
	if c, ok := k.table[string(table)]; ok {
		return c, true
	}
	return k.all, k.all != nil
}

// TableKey is key columns learned for one table from a create-table control
// record. It is part of the checkpointed state, so a restart keys every row
// as before.
type TableKey struct {
	Schema  string   `json:"schema"`
	Table   string   `json:"table"`
	Columns []string `json:"columns"`
}

// LearnOp says how a record changed the learned key columns.
type LearnOp uint8

const (
	LearnNone   LearnOp = iota
	LearnSet            // create-table with a non-empty primary-key
	LearnForget         // drop-table
)

// appendTableID appends an unambiguous identifier of schema.table: the
// schema's length, then both names. Joining the names with a separator
// would not do, as decoded names may hold any byte: schema "a", table
// "b\x00c" and schema "a\x00b", table "c" must stay two tables.
func appendTableID(dst, schema, table []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(schema)))
	return append(append(dst, schema...), table...)
}

// splitTableID undoes appendTableID.
func splitTableID(id string) (schema, table string) {
	n, k := binary.Uvarint([]byte(id))
	return id[k : k+int(n)], id[k+int(n):]
}

// Learned is the set of key columns learned from control records, one state
// for the whole process. The zero value is empty and ready.
type Learned struct {
	m map[string][]string // tableID(schema, table)
}

// Apply records a change. cols is kept; do not modify it afterwards.
func (l *Learned) Apply(op LearnOp, schema, table string, cols []string) {
	switch op {
	case LearnSet:
		if l.m == nil {
			l.m = map[string][]string{}
		}
		l.m[string(appendTableID(nil, []byte(schema), []byte(table)))] = cols
	case LearnForget:
		delete(l.m, string(appendTableID(nil, []byte(schema), []byte(table))))
	}
}

// lookup takes an id from appendTableID.
func (l *Learned) lookup(id []byte) ([]string, bool) {
	c, ok := l.m[string(id)]
	return c, ok
}

// Tables returns the learned keys, for the checkpoint, in no fixed order.
func (l *Learned) Tables() []TableKey {
	out := make([]TableKey, 0, len(l.m))
	for id, cols := range l.m {
		schema, table := splitTableID(id)
		out = append(out, TableKey{Schema: schema, Table: table, Columns: cols})
	}
	return out
}

// Clone returns an independent copy.
func (l *Learned) Clone() Learned {
	c := Learned{m: make(map[string][]string, len(l.m))}
	for k, v := range l.m {
		c.m[k] = v // column slices are never modified in place
	}
	return c
}

// Len is the number of tables with learned keys.
func (l *Learned) Len() int { return len(l.m) }
