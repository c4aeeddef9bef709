// Package loadgen generates DMS-shaped CDC records for demos, tests and
// benchmarks: a create-table control record per table, then inserts,
// updates and deletes over a fixed set of rows with a skewed row choice.
// Output is deterministic for a seed.
package loadgen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Config shapes the workload.
type Config struct {
	Schema string
	Tables int     // tables, named from a fixed list then table_NN
	Rows   int     // distinct rows over all tables
	Zipf   float64 // 0: the hottest row takes HotShare of changes, the rest uniform; > 0: Zipf(s) over rows
	// HotShare is the hottest row's share of changes when Zipf is 0.
	HotShare float64
	Seed     uint64
	Start    time.Time // first DMS timestamp
}

// DefaultConfig is a small shop: 4 tables, 10,000 rows, 1% on the hottest.
func DefaultConfig() Config {
	return Config{Schema: "shop", Tables: 4, Rows: 10_000, HotShare: 0.01, Seed: 1,
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

var tableNames = []string{"orders", "customers", "payments", "shipments", "items", "invoices", "refunds", "carts"}

// TableName returns the name of table i.
func TableName(i int) string {
	if i < len(tableNames) {
		return tableNames[i]
	}
	return fmt.Sprintf("table_%02d", i)
}

// Generator produces records one at a time.
type Generator struct {
	cfg     Config
	rng     *rand.Rand
	zipf    *zipf
	exists  []bool
	version []int64
	n       int64
	txn     int64
	tables  int // create-table records emitted so far
	buf     []byte
}

// New returns a Generator.
func New(cfg Config) (*Generator, error) {
	switch {
	case cfg.Tables < 1:
		return nil, fmt.Errorf("tables %d: must be ≥ 1", cfg.Tables)
	case cfg.Rows < cfg.Tables:
		return nil, fmt.Errorf("rows %d: must be ≥ tables (%d)", cfg.Rows, cfg.Tables)
	case cfg.Zipf < 0:
		return nil, fmt.Errorf("zipf %v: must be ≥ 0", cfg.Zipf)
	case cfg.Zipf == 0 && (cfg.HotShare < 0 || cfg.HotShare >= 1):
		return nil, fmt.Errorf("hot share %v: must be in [0, 1)", cfg.HotShare)
	}
	g := &Generator{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		exists:  make([]bool, cfg.Rows),
		version: make([]int64, cfg.Rows),
	}
	if cfg.Zipf > 0 {
		g.zipf = newZipf(cfg.Zipf, cfg.Rows)
	}
	return g, nil
}

// Record is one generated payload with what a checker needs to know.
type Record struct {
	Data      []byte // the Kinesis payload (valid until the next Next call)
	Control   bool
	Table     string
	ID        int // row id within its table (data records)
	Operation string
}

// Next returns the next record: the create-table records first.
func (g *Generator) Next() Record {
	ts := g.cfg.Start.Add(time.Duration(g.n) * time.Millisecond)
	g.n++
	if g.tables < g.cfg.Tables {
		t := TableName(g.tables)
		g.tables++
		g.buf = g.createTable(g.buf[:0], t, ts)
		return Record{Data: g.buf, Control: true, Table: t, Operation: "create-table"}
	}
	row := g.pick()
	table, id := TableName(row%g.cfg.Tables), row/g.cfg.Tables
	var op string
	switch {
	case !g.exists[row]:
		op, g.exists[row] = "insert", true
	case g.rng.IntN(10) == 0:
		op, g.exists[row] = "delete", false
	default:
		op = "update"
	}
	g.version[row]++
	g.txn++
	g.buf = g.data(g.buf[:0], table, id, op, g.version[row], ts)
	return Record{Data: g.buf, Table: table, ID: id, Operation: op}
}

func (g *Generator) pick() int {
	if g.zipf != nil {
		return g.zipf.sample(g.rng)
	}
	if g.rng.Float64() < g.cfg.HotShare {
		return 0
	}
	return g.rng.IntN(g.cfg.Rows)
}

const stamp = "2006-01-02T15:04:05.000000Z"

func (g *Generator) createTable(b []byte, table string, ts time.Time) []byte {
	b = append(b, `{"control":{"table-def":{"columns":{"id":{"type":"INT64","nullable":false},"customer_id":{"type":"INT64","nullable":false},"status":{"type":"STRING","length":16,"nullable":true},"amount":{"type":"NUMERIC","precision":12,"scale":2,"nullable":true},"currency":{"type":"STRING","length":3,"nullable":true},"note":{"type":"STRING","length":256,"nullable":true},"version":{"type":"INT64","nullable":false},"updated_at":{"type":"DATETIME","nullable":true}},"primary-key":["id"],"collation-name":"utf8mb4_general_ci"}},"metadata":{"timestamp":"`...)
	b = ts.AppendFormat(b, stamp)
	b = append(b, `","record-type":"control","operation":"create-table","partition-key-type":"task-id","partition-key-value":"LOADTASK","schema-name":"`...)
	b = append(b, g.cfg.Schema...)
	b = append(b, `","table-name":"`...)
	b = append(b, table...)
	return append(b, `"}}`...)
}

var statuses = []string{"NEW", "PAID", "PACKED", "SHIPPED", "DELIVERED", "RETURNED"}

// data writes a CDC record of about 550 bytes, like a real DMS row.
func (g *Generator) data(b []byte, table string, id int, op string, version int64, ts time.Time) []byte {
	b = append(b, `{"data":{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	if op != "delete" {
		b = append(b, `,"customer_id":`...)
		b = strconv.AppendInt(b, int64(id*7919%100_003), 10)
		b = append(b, `,"status":"`...)
		b = append(b, statuses[version%int64(len(statuses))]...)
		b = append(b, `","amount":`...)
		b = strconv.AppendFloat(b, float64(g.rng.IntN(100_000))/100, 'f', 2, 64)
		b = append(b, `,"currency":"EUR","note":"generated by repartd load; row history is checked by repartd verify","version":`...)
		b = strconv.AppendInt(b, version, 10)
		b = append(b, `,"updated_at":"`...)
		b = ts.AppendFormat(b, stamp)
		b = append(b, '"')
	}
	b = append(b, `},"metadata":{"timestamp":"`...)
	b = ts.AppendFormat(b, stamp)
	b = append(b, `","record-type":"data","operation":"`...)
	b = append(b, op...)
	b = append(b, `","partition-key-type":"schema-table","schema-name":"`...)
	b = append(b, g.cfg.Schema...)
	b = append(b, `","table-name":"`...)
	b = append(b, table...)
	b = append(b, `","transaction-id":`...)
	b = strconv.AppendInt(b, 1_000_000+g.txn, 10)
	b = append(b, `,"transaction-record-id":1,"commit-timestamp":"`...)
	b = ts.AppendFormat(b, stamp)
	b = append(b, `","stream-position":"mysql-bin-changelog.000042:`...)
	b = strconv.AppendInt(b, 4_000_000+g.txn*613, 10)
	return append(b, `:0:"}}`...)
}

// zipf samples ranks 0..n-1 with P(k) ∝ 1/(k+1)^s by inverting the CDF
// (binary search), which, unlike math/rand's Zipf, allows s ≤ 1.
type zipf struct{ cdf []float64 }

func newZipf(s float64, n int) *zipf {
	z := &zipf{cdf: make([]float64, n)}
	sum := 0.0
	for k := range n {
		sum += 1 / math.Pow(float64(k+1), s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

func (z *zipf) sample(r *rand.Rand) int {
	u := r.Float64()
	lo, hi := 0, len(z.cdf)-1
	for lo < hi {
		m := (lo + hi) / 2
		if z.cdf[m] < u {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// HottestShare is the expected share of changes on the hottest row.
func (g *Generator) HottestShare() float64 {
	if g.zipf != nil {
		return g.zipf.cdf[0]
	}
	return g.cfg.HotShare + (1-g.cfg.HotShare)/float64(g.cfg.Rows)
}
