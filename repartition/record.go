package repartition

import "bytes"

// span is a half-open byte range of the payload.
type span struct{ start, end int }

// strField is a metadata field as found in the payload.
type strField struct {
	present bool // the member exists
	isStr   bool // and its value is a JSON string
	esc     bool // whose raw content holds escapes
	raw     span // raw content between the quotes (isStr only)
}

// member is one top-level member of the data object: raw name and raw value.
type member struct {
	name span
	esc  bool
	val  span
}

// parsed holds what one scan of a DMS payload found. Spans point into the
// payload; nothing is copied.
type parsed struct {
	metadataPresent  bool
	metadataIsObject bool
	recordType       strField
	operation        strField
	schema           strField
	table            strField
	partitionKeyType strField

	dataPresent  bool
	dataIsObject bool
	data         []member // top-level members of data, in payload order

	controlPresent bool
	control        span // raw value of control

	beforeImagePresent bool
	beforeImage        []member // top-level members of before-image, if an object
}

func (p *parsed) reset() {
	data, bi := p.data[:0], p.beforeImage[:0]
	*p = parsed{}
	p.data, p.beforeImage = data, bi
}

// nameIs reports whether the raw JSON string content raw (escaped if esc)
// decodes to want. The escaped path copies into scratch.
func nameIs(raw []byte, esc bool, want string, scratch *[]byte) bool {
	if !esc {
		return string(raw) == want
	}
	*scratch = appendUnescaped((*scratch)[:0], raw)
	return string(*scratch) == want
}

// memberText returns the decoded form of the member name at ns:ne of the
// payload: the payload bytes themselves, or a copy in scratch when the name
// holds escapes. Switching on it compares each name once against every
// case, where a chain of nameIs calls would compare it once per case.
func memberText(payload []byte, ns, ne int, esc bool, scratch *[]byte) []byte {
	if !esc {
		return payload[ns:ne]
	}
	*scratch = appendUnescaped((*scratch)[:0], payload[ns:ne])
	return *scratch
}

// parse scans payload once: it validates the whole of it as one JSON object
// (surrounding whitespace allowed) and records the members repartd needs.
// Duplicate member names: the last one wins, as in encoding/json.
//
// Every byte is validated, even after the members repartd needs were all
// found: a record is routed only if it is JSON (fuzz_test.go holds the
// scanner to json.Valid).
func (s *scanner) parse(payload []byte, p *parsed, scratch *[]byte) bool {
	s.reset(payload)
	p.reset()
	s.ws()
	if s.i >= len(payload) {
		return s.fail("empty payload")
	}
	if s.peek() != '{' {
		if !s.skip() {
			return false // not JSON at all
		}
		// "01" or "[1] x" is no JSON value either, whatever it starts with.
		if s.ws(); s.i != len(payload) {
			return s.fail("text after JSON value")
		}
		return s.fail("not a JSON object")
	}
	more, ok := s.openObject()
	for ok && more {
		ns, ne, esc, named := s.memberName()
		if !named {
			return false
		}
		s.ws()
		switch string(memberText(payload, ns, ne, esc, scratch)) {
		case "metadata":
			ok = s.metadata(p, scratch)
		case "data":
			p.dataPresent = true
			p.data = p.data[:0]
			p.dataIsObject = s.peek() == '{'
			if p.dataIsObject {
				ok = s.collectMembers(&p.data)
			} else {
				ok = s.skip()
			}
		case "before-image":
			p.beforeImagePresent = true
			p.beforeImage = p.beforeImage[:0]
			if s.peek() == '{' {
				ok = s.collectMembers(&p.beforeImage)
			} else {
				ok = s.skip()
			}
		case "control":
			p.controlPresent = true
			start := s.i
			ok = s.skip()
			p.control = span{start, s.i}
		default:
			ok = s.skip()
		}
		if !ok {
			return false
		}
		if !s.comma() {
			more, ok = s.nextMember()
		}
	}
	if !ok {
		return false
	}
	s.ws()
	if s.i != len(payload) {
		return s.fail("text after JSON object")
	}
	return true
}

// metadata scans the value of the payload's metadata member at s.i (after
// whitespace) and records its string fields. A later metadata member
// replaces an earlier one whole.
func (s *scanner) metadata(p *parsed, scratch *[]byte) bool {
	p.metadataPresent = true
	p.recordType, p.operation, p.schema, p.table, p.partitionKeyType = strField{}, strField{}, strField{}, strField{}, strField{}
	if s.peek() != '{' {
		p.metadataIsObject = false
		return s.skip()
	}
	p.metadataIsObject = true
	more, ok := s.openObject()
	for ok && more {
		ns, ne, esc, named := s.memberName()
		if !named {
			return false
		}
		var f *strField
		switch string(memberText(s.b, ns, ne, esc, scratch)) {
		case "record-type":
			f = &p.recordType
		case "operation":
			f = &p.operation
		case "schema-name":
			f = &p.schema
		case "table-name":
			f = &p.table
		case "partition-key-type":
			f = &p.partitionKeyType
		}
		s.ws()
		switch {
		case f == nil:
			ok = s.skip()
		case s.peek() != '"':
			*f = strField{present: true}
			ok = s.skip()
		default:
			st, en, e, isStr := s.str()
			*f = strField{present: true, isStr: true, esc: e, raw: span{st, en}}
			ok = isStr
		}
		if !ok {
			return false
		}
		if !s.comma() {
			more, ok = s.nextMember()
		}
	}
	return ok
}

// collectMembers records the name and raw value bounds of each member of the
// object at s.i, which the caller has seen start with '{'.
func (s *scanner) collectMembers(dst *[]member) bool {
	more, ok := s.openObject()
	for ok && more {
		ns, ne, esc, named := s.memberName()
		if !named {
			return false
		}
		s.ws()
		vs := s.i
		if !s.skip() {
			return false
		}
		// Append a zero member, then set its fields in place: appending a
		// member literal builds it on the stack and copies it with 16-byte
		// loads of the 8-byte stores just made, which cannot be forwarded
		// and stall (the hottest instruction of collectMembers in pprof).
		*dst = append(*dst, member{})
		m := &(*dst)[len(*dst)-1]
		m.name, m.esc, m.val = span{ns, ne}, esc, span{vs, s.i}
		if !s.comma() {
			more, ok = s.nextMember()
		}
	}
	return ok
}

// lookup returns the raw value bytes of the last member named col, or false.
func lookup(payload []byte, members []member, col string, scratch *[]byte) ([]byte, bool) {
	for i := len(members) - 1; i >= 0; i-- {
		m := &members[i]
		raw := payload[m.name.start:m.name.end]
		// Most names hold no escapes: compare them in place, without a
		// call to nameIs per member.
		if m.esc && nameIs(raw, true, col, scratch) || !m.esc && string(raw) == col {
			return payload[m.val.start:m.val.end], true
		}
	}
	return nil, false
}

// primaryKey finds control.table-def.primary-key in the raw control value
// and appends the raw content bounds of each of its strings to dst (as
// member names, relative to control). It returns false unless that is a
// non-empty array of strings. It reuses s (its parse is done), so once s has
// grown it allocates nothing.
func (s *scanner) primaryKey(control []byte, dst *[]member, scratch *[]byte) bool {
	var tableDef span
	found := false
	if !s.objectMembersAt(control, func(ns, ne int, esc bool) bool {
		s.ws()
		start := s.i
		if !s.skip() {
			return false
		}
		if nameIs(control[ns:ne], esc, "table-def", scratch) {
			tableDef, found = span{start, s.i}, true
		}
		return true
	}) || !found {
		return false
	}
	def := control[tableDef.start:tableDef.end]
	var pk span
	found = false
	if !s.objectMembersAt(def, func(ns, ne int, esc bool) bool {
		s.ws()
		start := s.i
		if !s.skip() {
			return false
		}
		if nameIs(def[ns:ne], esc, "primary-key", scratch) {
			pk, found = span{start, s.i}, true
		}
		return true
	}) || !found {
		return false
	}
	// pk is a complete, valid value: scan its elements.
	off := tableDef.start + pk.start
	s.reset(control[:tableDef.start+pk.end])
	s.i = off
	if s.peek() != '[' {
		return false
	}
	s.i++
	*dst = (*dst)[:0]
	for {
		s.ws()
		if s.peek() != '"' {
			return false // ']' of an empty array, or not a string
		}
		st, en, esc, ok := s.str()
		if !ok {
			return false
		}
		*dst = append(*dst, member{name: span{st, en}, esc: esc})
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			return true
		default:
			return false
		}
	}
}

// columnsOf returns the decoded names of pk (from scanner.primaryKey),
// reusing old when it already holds them, so a create-table repeated at
// every task start allocates nothing.
func columnsOf(control []byte, pk []member, old []string, scratch *[]byte) (cols []string, same bool) {
	if len(old) == len(pk) {
		same = true
		for i, m := range pk {
			if !nameIs(control[m.name.start:m.name.end], m.esc, old[i], scratch) {
				same = false
				break
			}
		}
		if same {
			return old, true
		}
	}
	cols = make([]string, len(pk))
	for i, m := range pk {
		raw := control[m.name.start:m.name.end]
		if m.esc {
			cols[i] = string(appendUnescaped(nil, raw))
		} else {
			cols[i] = string(raw)
		}
	}
	return cols, false
}

func (s *scanner) objectMembersAt(b []byte, member func(start, end int, esc bool) bool) bool {
	s.reset(b)
	return s.objectMembers(member)
}

// decoded returns the decoded string value of f, using buf when it holds
// escapes. The result aliases payload or buf.
func decoded(payload []byte, f strField, buf *[]byte) []byte {
	raw := payload[f.raw.start:f.raw.end]
	if !f.esc {
		return raw
	}
	*buf = appendUnescaped((*buf)[:0], raw)
	return *buf
}

// sameValue reports whether two raw JSON tokens are byte-identical.
func sameValue(a, b []byte) bool { return bytes.Equal(a, b) }
