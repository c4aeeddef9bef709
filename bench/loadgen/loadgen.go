// Package loadgen generates DMS-shaped CDC records for demos, tests and
// benchmarks: a create-table control record per table, then inserts,
// updates and deletes over a fixed set of rows with a skewed row choice,
// optionally with bad records mixed in evenly (see Config.BadRecords).
// Output is deterministic for a seed.
package loadgen

import (
	"bytes"
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

	// BadRecords of the first Records records are bad, spread evenly over
	// the records after the create-table ones (see BadKind for the mix).
	// 0: none. Bad records draw nothing from the row choice's random
	// source, so the good records around them do not depend on it.
	BadRecords int
	// Records is the total the bad records are spread over; required
	// (≥ Tables + BadRecords) when BadRecords > 0. Next keeps returning
	// good records after it.
	Records int
	// OversizeBytes is the size of an oversize bad record: the loader sets
	// it to 1 MiB minus its partition key, so the record fits the source
	// but not a destination that keys it with a longer partition key.
	OversizeBytes int
}

// DefaultConfig is a small shop: 4 tables, 10,000 rows, 1% on the hottest.
func DefaultConfig() Config {
	return Config{Schema: "shop", Tables: 4, Rows: 10_000, HotShare: 0.01, Seed: 1,
		Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), OversizeBytes: MaxRecordBytes - len("LOADTASK")}
}

// MaxRecordBytes is Kinesis's record size limit (data plus partition key)
// on a stream with the default MaxRecordSizeInKiB.
const MaxRecordBytes = 1 << 20

// BadKind says how a generated record is bad; "" is a good record.
type BadKind string

// The bad record kinds, in the order they rotate (oversize records, at
// 1 MiB each, are placed separately: one bad record in a hundred, at
// least one when BadRecords ≥ 6).
const (
	BadMalformed         BadKind = "malformed"           // not JSON: a DMS-looking object with syntax errors
	BadTruncated         BadKind = "truncated"           // a DMS data record cut in half
	BadNoMetadata        BadKind = "no-metadata"         // JSON object without metadata
	BadUnknownRecordType BadKind = "unknown-record-type" // metadata.record-type is neither data nor control
	BadUnknownOperation  BadKind = "unknown-operation"   // a valid data record of a real row with operation "upsert": routed, not invalid
	BadOversize          BadKind = "oversize"            // a valid data record of OversizeBytes bytes
)

// rotation is the order of the bad kinds other than oversize.
var rotation = []BadKind{BadMalformed, BadTruncated, BadNoMetadata, BadUnknownRecordType, BadUnknownOperation}

// Invalid says whether repartd treats records of kind k as invalid (dead
// letters with --on-invalid dlq); unknown operations are routed as data.
func (k BadKind) Invalid() bool {
	return k != "" && k != BadUnknownOperation && k != BadOversize
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

	pos     int // records emitted so far, bad ones included (n counts good ones)
	bad     int // bad records emitted so far
	nextBad int // position of the next bad record, or -1
	cheap   int // bad records of the rotating kinds emitted so far
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
	case cfg.BadRecords < 0:
		return nil, fmt.Errorf("bad records %d: must be ≥ 0", cfg.BadRecords)
	case cfg.BadRecords > 0 && cfg.Records < cfg.Tables+cfg.BadRecords:
		return nil, fmt.Errorf("bad records %d: need records (%d) ≥ tables (%d) + bad records", cfg.BadRecords, cfg.Records, cfg.Tables)
	case cfg.BadRecords > 0 && (cfg.OversizeBytes < 4096 || cfg.OversizeBytes > 10<<20):
		return nil, fmt.Errorf("oversize bytes %d: must be 4 KiB..10 MiB", cfg.OversizeBytes)
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
	g.nextBad = g.badPosition(0)
	return g, nil
}

// badPosition is the position of bad record j: the middle of the j-th of
// BadRecords equal slices of the records after the create-table ones.
func (g *Generator) badPosition(j int) int {
	if j >= g.cfg.BadRecords {
		return -1
	}
	span := g.cfg.Records - g.cfg.Tables
	return g.cfg.Tables + (2*j+1)*span/(2*g.cfg.BadRecords)
}

// oversizeCount is how many of the bad records are oversize: one in a
// hundred, at least one from six bad records on.
func oversizeCount(bad int) int {
	switch {
	case bad < 6:
		return 0
	case bad < 100:
		return 1
	}
	return (bad + 99) / 100
}

// badKind returns the kind of bad record j: oversize records sit evenly
// among the bad ones (Bresenham), the rest rotate through the other kinds.
func (g *Generator) badKind(j int) BadKind {
	n, m := g.cfg.BadRecords, oversizeCount(g.cfg.BadRecords)
	// Record j is oversize when floor((j+1)·m/n) steps past floor(j·m/n),
	// shifted by half a step so the first one is not at the very start.
	if (2*(j+1)*m+n)/(2*n) > (2*j*m+n)/(2*n) {
		return BadOversize
	}
	k := rotation[g.cheap%len(rotation)]
	g.cheap++
	return k
}

// Record is one generated payload with what a checker needs to know.
type Record struct {
	Data      []byte // the Kinesis payload (valid until the next Next call)
	Control   bool
	Table     string
	ID        int // row id within its table (data records)
	Operation string
	// Bad is the kind of a bad record ("" for a good one). Table, ID and
	// Operation are set on bad records only when they parse as data
	// records (unknown operations, oversize records).
	Bad BadKind
}

// Next returns the next record: the create-table records first.
func (g *Generator) Next() Record {
	ts := g.cfg.Start.Add(time.Duration(g.n) * time.Millisecond)
	pos := g.pos
	g.pos++
	if pos == g.nextBad {
		j := g.bad
		g.bad++
		g.nextBad = g.badPosition(g.bad)
		return g.badRecord(j, ts)
	}
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

// badRecord builds bad record j. Its content depends on j and the seed
// only, and every one is unique (verify tells records apart by payload).
// The fake personal data in them lets tests look for leaks in logs.
func (g *Generator) badRecord(j int, ts time.Time) Record {
	kind := g.badKind(j)
	// A real row, chosen from j, for the kinds that parse as data records.
	row := int((uint64(j)*0x9e3779b97f4a7c15 ^ g.cfg.Seed) % uint64(g.cfg.Rows))
	table, id := TableName(row%g.cfg.Tables), row/g.cfg.Tables
	b := g.buf[:0]
	rec := Record{Bad: kind}
	switch kind {
	case BadMalformed:
		b = append(b, `{"data":{"id":`...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, ` "email":'malformed.`...) // no comma, single quotes
		b = strconv.AppendInt(b, int64(j), 10)
		b = append(b, `@example.org'},"metadata":{"record-type":"data","operation":"update","schema-name":"`...)
		b = append(b, g.cfg.Schema...)
		b = append(b, `","table-name":"`...)
		b = append(b, table...)
		b = append(b, `"}}`...)
	case BadTruncated:
		b = g.badData(b, j, table, id, "update", ts, 0)
		b = b[:len(b)/2]
	case BadNoMetadata:
		b = append(b, `{"data":{"id":`...)
		b = strconv.AppendInt(b, int64(id), 10)
		b = append(b, `,"email":"nometa.`...)
		b = strconv.AppendInt(b, int64(j), 10)
		b = append(b, `@example.org","phone":"+33 6 12 34 56 78"}}`...)
	case BadUnknownRecordType:
		b = g.badData(b, j, table, id, "update", ts, 0)
		b = bytes.Replace(b, []byte(`"record-type":"data"`), []byte(`"record-type":"heartbeat"`), 1)
	case BadUnknownOperation:
		b = g.badData(b, j, table, id, "upsert", ts, 0)
		rec.Table, rec.ID, rec.Operation = table, id, "upsert"
	case BadOversize:
		b = g.badData(b, j, table, id, "update", ts, g.cfg.OversizeBytes)
		rec.Table, rec.ID, rec.Operation = table, id, "update"
	}
	g.buf = b
	rec.Data = b
	return rec
}

// badData writes a DMS data record for bad record j, padded with fake
// personal data to exactly size bytes if size > 0.
func (g *Generator) badData(b []byte, j int, table string, id int, op string, ts time.Time, size int) []byte {
	b = append(b, `{"data":{"id":`...)
	b = strconv.AppendInt(b, int64(id), 10)
	b = append(b, `,"email":"bad.`...)
	b = strconv.AppendInt(b, int64(j), 10)
	b = append(b, `@example.org","note":"`...)
	if size > 0 {
		tail := len(`"},"metadata":{"timestamp":"`) + len(stamp) + 1 + len(`,"record-type":"data","operation":"`) + len(op) +
			len(`","partition-key-type":"schema-table","schema-name":"`) + len(g.cfg.Schema) +
			len(`","table-name":"`) + len(table) + len(`"}}`)
		const pad = "Jane Doe, 12 rue de la Paix, Paris; "
		for i := 0; len(b) < size-tail; i++ {
			b = append(b, pad[i%len(pad)])
		}
	} else {
		b = append(b, "fake row of Jane Doe, 12 rue de la Paix, Paris"...)
	}
	b = append(b, `"},"metadata":{"timestamp":"`...)
	b = ts.AppendFormat(b, stamp)
	b = append(b, `","record-type":"data","operation":"`...)
	b = append(b, op...)
	b = append(b, `","partition-key-type":"schema-table","schema-name":"`...)
	b = append(b, g.cfg.Schema...)
	b = append(b, `","table-name":"`...)
	b = append(b, table...)
	return append(b, `"}}`...)
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

// TransactionID reads DMS metadata's "transaction-id" number, which the
// generator increases with every record: a row's source order, for
// checkers that must not use repartd's own parser.
func TransactionID(data []byte) (int64, bool) {
	const field = `"transaction-id":`
	i := bytes.Index(data, []byte(field))
	if i < 0 {
		return 0, false
	}
	i += len(field)
	for i < len(data) && data[i] == ' ' {
		i++
	}
	var n int64
	start := i
	for ; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		n = n*10 + int64(data[i]-'0')
	}
	return n, i > start
}
