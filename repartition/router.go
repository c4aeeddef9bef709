package repartition

import "strconv"

// Kind classifies a record.
type Kind uint8

const (
	KindInvalid Kind = iota
	KindData
	KindControl
)

func (k Kind) String() string {
	switch k {
	case KindData:
		return "data"
	case KindControl:
		return "control"
	}
	return "invalid"
}

// KeySource says where a record's key columns came from.
type KeySource uint8

const (
	SourceNone    KeySource = iota // invalid record: no routing key
	SourceColumns                  // configured --key rule
	SourceControl                  // learned from a create-table record
	SourceTable                    // table-level key (fallback; always for control records)
)

func (s KeySource) String() string {
	switch s {
	case SourceColumns:
		return "columns"
	case SourceControl:
		return "control"
	case SourceTable:
		return "table"
	}
	return ""
}

// Reasons. They name what is wrong, never what a record holds.
const (
	ReasonNoKeyColumns     = "no key columns known for table"
	ReasonEmpty            = "empty record"
	ReasonNotObject        = "not a JSON object"
	ReasonNoMetadata       = "no metadata"
	ReasonMetadataNotObj   = "metadata is not an object"
	ReasonNoRecordType     = "missing record-type"
	ReasonRecordTypeNotStr = "record-type is not a string"
	ReasonUnknownType      = "unknown record-type"
	ReasonNoSchema         = "data record without string schema-name"
	ReasonNoTable          = "data record without string table-name"
)

// Decision is what the Router made of one record. Byte slices alias the
// payload or the Router's buffers and stay valid until the next Route.
type Decision struct {
	Kind             Kind
	Schema, Table    []byte // decoded names (empty if absent)
	Operation        []byte // decoded metadata.operation, empty if absent or not a string
	PartitionKeyType []byte // decoded metadata.partition-key-type, if a string
	Key              uint64 // routing key; zero for invalid records
	// TableKey is the table-level key of the record's table (what control
	// records are keyed by), for DDL fences; zero for invalid records.
	TableKey  uint64
	KeySource KeySource
	// Reason is set on invalid records and on table-level fallbacks of data
	// records. Offset is the byte offset of a JSON syntax error, else -1.
	Reason string
	Offset int
	// Learn is the change this record made to the learned key columns
	// (already applied to the Router); LearnColumns is set for LearnSet.
	// Every create-table with a usable primary-key is a LearnSet, even one
	// repeating what was learned (then LearnColumns is the learned slice).
	Learn        LearnOp
	LearnColumns []string
	// FirstFallback is set the first time a table falls back to the
	// table-level key, so the caller can warn once per table.
	FirstFallback bool
	// PKChanged: an update whose before-image key columns differ from data's.
	PKChanged bool
}

// ReasonText formats Reason with its offset, if any.
func (d *Decision) ReasonText() string {
	if d.Offset >= 0 && d.Kind == KindInvalid {
		return d.Reason + " at byte " + strconv.Itoa(d.Offset)
	}
	return d.Reason
}

// Router derives routing decisions. It holds the learned key state and
// reusable buffers: one Router per goroutine.
type Router struct {
	rules    *KeyRules
	learned  Learned
	warned   map[string]struct{} // tableIDs that fell back to the table-level key
	s        scanner
	p        parsed
	scratch  []byte
	material []byte
	id       []byte // appendTableID of the current record's names
	schema   []byte
	table    []byte
	op       []byte
	pkt      []byte
	rt       []byte
	cols     [][]byte
	pk       []member // primary-key strings of a create-table record
}

// NewRouter returns a Router using rules (nil for none) and starting from
// learned (which it takes over).
func NewRouter(rules *KeyRules, learned Learned) *Router {
	return &Router{rules: rules, learned: learned, warned: map[string]struct{}{}}
}

// Learned returns the current learned key state (shared, do not modify).
func (r *Router) Learned() *Learned { return &r.learned }

// Route classifies payload and computes its routing key. It never panics and
// allocates nothing on valid data records once its buffers have grown.
func (r *Router) Route(payload []byte, d *Decision) {
	*d = Decision{Offset: -1}
	p := &r.p
	if len(payload) == 0 {
		d.Reason = ReasonEmpty
		return
	}
	if !r.s.parse(payload, p, &r.scratch) {
		switch reason := r.s.err.reason; reason {
		case "empty payload":
			d.Reason = ReasonEmpty
		case ReasonNotObject:
			d.Reason = ReasonNotObject
		default:
			d.Reason, d.Offset = "invalid JSON: "+reason, r.s.err.offset
		}
		return
	}
	if !p.metadataPresent {
		d.Reason = ReasonNoMetadata
		return
	}
	if !p.metadataIsObject {
		d.Reason = ReasonMetadataNotObj
		return
	}
	if p.operation.isStr {
		d.Operation = decoded(payload, p.operation, &r.op)
	}
	if p.partitionKeyType.isStr {
		d.PartitionKeyType = decoded(payload, p.partitionKeyType, &r.pkt)
	}
	if p.schema.isStr {
		d.Schema = decoded(payload, p.schema, &r.schema)
	}
	if p.table.isStr {
		d.Table = decoded(payload, p.table, &r.table)
	}
	switch {
	case !p.recordType.present:
		d.Reason = ReasonNoRecordType
		return
	case !p.recordType.isStr:
		d.Reason = ReasonRecordTypeNotStr
		return
	}
	switch string(decoded(payload, p.recordType, &r.rt)) {
	case "data":
		r.routeData(payload, d)
	case "control":
		r.routeControl(payload, d)
	default:
		d.Reason = ReasonUnknownType
	}
}

func (r *Router) routeControl(payload []byte, d *Decision) {
	p := &r.p
	d.Kind, d.KeySource = KindControl, SourceTable
	r.material = AppendKeyMaterial(r.material[:0], d.Schema, d.Table)
	r.id = appendTableID(r.id[:0], d.Schema, d.Table)
	d.Key = Hash(r.material)
	d.TableKey = d.Key
	switch string(d.Operation) {
	case "create-table":
		if !p.controlPresent {
			return
		}
		control := payload[p.control.start:p.control.end]
		if !r.s.primaryKey(control, &r.pk, &r.scratch) {
			return
		}
		old, _ := r.learned.lookup(r.id)
		cols, same := columnsOf(control, r.pk, old, &r.scratch)
		d.Learn, d.LearnColumns = LearnSet, cols
		if !same {
			r.learned.Apply(LearnSet, string(d.Schema), string(d.Table), cols)
		}
	case "drop-table":
		if _, ok := r.learned.lookup(r.id); ok {
			d.Learn = LearnForget
			r.learned.Apply(LearnForget, string(d.Schema), string(d.Table), nil)
		}
	}
}

func (r *Router) routeData(payload []byte, d *Decision) {
	p := &r.p
	if !p.schema.isStr {
		d.Reason = ReasonNoSchema
		return
	}
	if !p.table.isStr {
		d.Reason = ReasonNoTable
		return
	}
	r.material = AppendKeyMaterial(r.material[:0], d.Schema, d.Table)
	r.id = appendTableID(r.id[:0], d.Schema, d.Table)
	cols, ok := r.rules.lookup(d.Schema, d.Table, &r.scratch)
	src := SourceColumns
	if !ok {
		cols, ok = r.learned.lookup(r.id)
		src = SourceControl
	}
	tableKey := Hash(r.material)
	if !ok {
		d.Kind, d.KeySource, d.Reason = KindData, SourceTable, ReasonNoKeyColumns
		d.Key, d.TableKey = tableKey, tableKey
		if _, seen := r.warned[string(r.id)]; !seen {
			r.warned[string(r.id)] = struct{}{}
			d.FirstFallback = true
		}
		return
	}
	r.cols = r.cols[:0]
	for _, c := range cols {
		v, found := lookup(payload, p.data, c, &r.scratch)
		if !found {
			if !p.dataPresent {
				d.Reason = "no data object (key column " + strconv.Quote(c) + ")"
			} else if !p.dataIsObject {
				d.Reason = "data is not an object (key column " + strconv.Quote(c) + ")"
			} else {
				d.Reason = "missing key column " + strconv.Quote(c)
			}
			return
		}
		r.cols = append(r.cols, v)
		r.material = append(append(r.material, 0), v...)
	}
	d.Kind, d.KeySource = KindData, src
	d.Key, d.TableKey = Hash(r.material), tableKey
	if len(p.beforeImage) > 0 && string(d.Operation) == "update" {
		d.PKChanged = r.keyChanged(payload, cols)
	}
}

// keyChanged reports whether the before-image holds every key column and at
// least one differs from data's. A partial before-image proves nothing.
func (r *Router) keyChanged(payload []byte, cols []string) bool {
	changed := false
	for i, c := range cols {
		v, ok := lookup(payload, r.p.beforeImage, c, &r.scratch)
		if !ok {
			return false
		}
		if !sameValue(v, r.cols[i]) {
			changed = true
		}
	}
	return changed
}
