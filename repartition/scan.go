package repartition

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds JSON nesting, as encoding/json does, so a hostile record
// cannot make the scanner's stack grow without limit.
const maxDepth = 10000

// scanError says where and why a payload is not the JSON we accept. It holds
// an offset, never payload bytes.
type scanError struct {
	reason string
	offset int
}

// scanner validates JSON (RFC 8259, UTF-8 only) without building values. It
// keeps a reusable bit stack for nesting, so skipping any value allocates
// nothing once the stack has grown.
type scanner struct {
	b     []byte
	i     int
	stack []uint64 // bit per open container: 1 = object, 0 = array
	depth int
	err   scanError
}

func (s *scanner) reset(b []byte) {
	s.b, s.i, s.depth, s.err = b, 0, 0, scanError{}
}

func (s *scanner) fail(reason string) bool {
	if s.err.reason == "" {
		s.err = scanError{reason: reason, offset: s.i}
	}
	return false
}

// ws skips whitespace. Compact DMS JSON has none between tokens, so the
// common case is one byte above ' ' (every JSON whitespace byte is at most
// ' '): ws returns after one compare and is small enough to inline; the
// loop lives in wsSlow.
func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	s.wsSlow()
}

func (s *scanner) wsSlow() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte, or 0 at the end of input.
func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// strClass marks bytes that end the plain run inside a string: control
// bytes, '"', '\\' and every non-ASCII byte. stopAt uses it for the last
// few bytes of the payload, where a whole word cannot be loaded.
var strClass = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	return t
}()

// Word-at-a-time string scanning. Most of a DMS record is string content
// (names, timestamps, values), and nearly all of it is plain ASCII, so str
// looks at 8 bytes per step and only stops at a byte that needs attention.
//
// A word is 8 payload bytes loaded little-endian: payload byte k is bits
// 8k..8k+7, so the first byte in the payload is the lowest byte of the word
// and bits.TrailingZeros64/8 of a mask finds the earliest marked byte.
const (
	lsbs = 0x0101010101010101 // 0x01 in every byte
	msbs = 0x8080808080808080 // 0x80 in every byte
)

// strStops returns w's high bits (0x80 of a byte) marking the bytes str must
// look at: control bytes (< 0x20), '"', '\\' and non-ASCII bytes (>= 0x80).
// It is zero when all 8 bytes are plain string content. Only its lowest set
// bit is exact; str needs no more, as it handles the first stop and
// resumes after it.
//
// Per byte b (before any borrow from a lower byte):
//   - w - 0x20 in every byte wraps (sets the high bit) when b < 0x20, and
//     sets it when b >= 0xA0;
//   - (w ^ '"' in every byte) - 0x01 in every byte wraps to 0xFF when b is
//     '"' (the xor is zero), and sets the high bit when the xor is >= 0x81,
//     that is when b >= 0x80 (the xor never touches bit 7);
//   - the same for '\\';
//   - w itself has the high bit of every byte >= 0x80.
//
// Every extra case is a byte >= 0x80, a stop anyway, so the four terms are
// simply or-ed, without the "& ^w" masks of the textbook has-zero-byte
// test. A subtraction borrows out of a byte only when that byte wrapped, that
// is when it is a stop, so bytes before the first stop are never marked;
// bytes after it may be, which is why only the lowest bit counts.
func strStops(w uint64) uint64 {
	return ((w - lsbs*0x20) | ((w ^ lsbs*'"') - lsbs) | ((w ^ lsbs*'\\') - lsbs) | w) & msbs
}

// stopAt returns the index of the first byte of b at or after i that ends a
// plain run inside a string (see strClass), or len(b).
func stopAt(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := strStops(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(b) && !strClass[b[i]] {
		i++
	}
	return i
}

// str scans a string whose opening quote is at s.i. It returns the bounds of
// the raw content (between the quotes) and whether it holds escapes. On
// failure s.i (the reported offset) is at the offending byte: the
// backslash of a bad escape, the control byte, the first byte of invalid
// UTF-8, or the end of input.
func (s *scanner) str() (start, end int, esc, ok bool) {
	// Fast path: plain content up to the closing quote, as nearly every
	// string of a DMS record is.
	start = s.i + 1 // after the opening quote
	end = stopAt(s.b, start)
	if end < len(s.b) && s.b[end] == '"' {
		s.i = end + 1
		return start, end, false, true
	}
	return s.strSlow(start, end)
}

// strSlow is str from the first byte at i that is not plain content: an
// escape, non-ASCII, a control byte or the end of input.
func (s *scanner) strSlow(start, i int) (_, end int, esc, ok bool) {
	b := s.b
	for {
		if i >= len(b) {
			s.i = i
			return 0, 0, false, s.fail("unterminated string")
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return start, i, esc, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				s.i = i
				return 0, 0, false, s.fail("unterminated string")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					s.i = i
					return 0, 0, false, s.fail("unterminated string")
				}
				for _, h := range b[i+2 : i+6] {
					if hexVal(h) < 0 {
						s.i = i
						return 0, 0, false, s.fail("invalid \\u escape")
					}
				}
				i += 6
			default:
				s.i = i
				return 0, 0, false, s.fail("invalid escape")
			}
		case c < 0x20:
			s.i = i
			return 0, 0, false, s.fail("control character in string")
		default: // non-ASCII: must be valid UTF-8
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				s.i = i
				return 0, 0, false, s.fail("invalid UTF-8")
			}
			i += size
		}
		i = stopAt(b, i)
	}
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits returns the index of the first byte at or after i that is not a
// decimal digit. c-'0' < 10 is one unsigned compare: bytes below '0' wrap
// to large values.
func digits(b []byte, i int) int {
	for i < len(b) && b[i]-'0' < 10 {
		i++
	}
	return i
}

// number scans a JSON number at s.i. It works on a local index and stores
// it back once; on failure s.i is where the grammar broke.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i]-'1' < 9: // '1'..'9'
		i = digits(b, i+1)
	default:
		s.i = i
		return s.fail("invalid number")
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			s.i = i
			return s.fail("invalid number")
		}
		i = digits(b, i+1)
	}
	if i < len(b) && b[i]|0x20 == 'e' { // 'e' or 'E': only they become 'e' with bit 5 set
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			s.i = i
			return s.fail("invalid number")
		}
		i = digits(b, i+1)
	}
	s.i = i
	return true
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.i += len(lit)
	return true
}

func (s *scanner) push(object bool) bool {
	if s.depth >= maxDepth {
		return s.fail("nesting too deep")
	}
	w, bit := s.depth/64, uint(s.depth%64)
	for len(s.stack) <= w {
		s.stack = append(s.stack, 0)
	}
	if object {
		s.stack[w] |= 1 << bit
	} else {
		s.stack[w] &^= 1 << bit
	}
	s.depth++
	return true
}

func (s *scanner) topIsObject() bool {
	d := s.depth - 1
	return s.stack[d/64]&(1<<uint(d%64)) != 0
}

// memberName scans `"name"` `:` at s.i (after whitespace) in an object.
func (s *scanner) memberName() (start, end int, esc, ok bool) {
	s.ws()
	if s.peek() != '"' {
		return 0, 0, false, s.fail("expected object key")
	}
	// str by hand, saving a call per member: plain names, as in all DMS
	// output, need only stopAt.
	start = s.i + 1
	if end = stopAt(s.b, start); end < len(s.b) && s.b[end] == '"' {
		s.i = end + 1
	} else if start, end, esc, ok = s.strSlow(start, end); !ok {
		return
	}
	s.ws()
	if s.peek() != ':' {
		return 0, 0, false, s.fail("expected ':' after object key")
	}
	s.i++
	return start, end, esc, true
}

// scalar scans a value that is not an object or array, starting with c at
// s.i (c is 0 at the end of input).
func (s *scanner) scalar(c byte) bool {
	switch {
	case c == '"':
		_, _, _, ok := s.str()
		return ok
	case c == '-' || isDigit(c):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case s.i >= len(s.b):
		return s.fail("unexpected end of input")
	}
	return s.fail("unexpected character")
}

// skip scans one complete value at s.i (leading whitespace allowed) without
// recursion. It leaves s.i just after the value. Most values repartd skips
// are the scalars of data and metadata, so they go straight to scalar
// without the container loop.
func (s *scanner) skip() bool {
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		// str by hand, as in memberName.
		end := stopAt(s.b, s.i+1)
		if end < len(s.b) && s.b[end] == '"' {
			s.i = end + 1
			return true
		}
		_, _, _, ok := s.strSlow(s.i+1, end)
		return ok
	case c == '-' || isDigit(c):
		return s.number()
	case c == '{' || c == '[':
		return s.skipContainer()
	default:
		return s.scalar(c)
	}
}

// skipContainer is skip for a value that starts with '{' or '['.
func (s *scanner) skipContainer() bool {
	base := s.depth
	for {
		// Expect a value.
		s.ws()
		switch c := s.peek(); c {
		case '{':
			more, ok := s.openObject()
			if !ok {
				return false
			}
			if more {
				if _, _, _, ok := s.memberName(); !ok {
					return false
				}
				continue
			}
		case '[':
			s.i++
			if !s.push(false) {
				return false
			}
			s.ws()
			if s.peek() == ']' {
				s.i++
				s.depth--
				break
			}
			continue
		default:
			if !s.scalar(c) {
				return false
			}
		}
		// After a value: close containers or move to the next element.
		for {
			if s.depth == base {
				return true
			}
			if s.topIsObject() {
				more, ok := s.nextMember()
				if !ok {
					return false
				}
				if more {
					if _, _, _, ok := s.memberName(); !ok {
						return false
					}
					break
				}
				continue
			}
			s.ws()
			c := s.peek()
			if c == ',' {
				s.i++
				break
			}
			if c == ']' {
				s.i++
				s.depth--
				continue
			}
			if s.i >= len(s.b) {
				return s.fail("unexpected end of input")
			}
			return s.fail("expected ',' or ']'")
		}
	}
}

// openObject consumes the '{' at s.i (the caller has seen it) and the
// whitespace after it. more reports whether a member follows; an empty
// object is consumed whole and closed.
func (s *scanner) openObject() (more, ok bool) {
	s.i++
	if !s.push(true) {
		return false, false
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return false, true
	}
	return true, true
}

// comma consumes a ',' right after a value and reports whether it did: the
// compact case of nextMember, small enough to inline into the member loops.
func (s *scanner) comma() bool {
	if s.i < len(s.b) && s.b[s.i] == ',' {
		s.i++
		return true
	}
	return false
}

// nextMember consumes what follows a member's value in the innermost
// object: ',' (more: a member follows) or '}' (the object is closed).
func (s *scanner) nextMember() (more, ok bool) {
	s.ws()
	switch s.peek() {
	case ',':
		s.i++
		return true, true
	case '}':
		s.i++
		s.depth--
		return false, true
	}
	if s.i >= len(s.b) {
		return false, s.fail("unexpected end of input")
	}
	return false, s.fail("expected ',' or '}'")
}

// objectMembers walks the object at s.i, calling member with each key's raw
// bounds; member must consume the value (usually with s.skip) and return
// false to abort. It returns false on malformed input.
//
// The object counts towards maxDepth like any other container, so the
// payload's own levels and those skip sees add up as in encoding/json.
func (s *scanner) objectMembers(member func(start, end int, esc bool) bool) bool {
	s.ws()
	if s.peek() != '{' {
		return s.fail("expected object")
	}
	more, ok := s.openObject()
	for ok && more {
		start, end, esc, named := s.memberName()
		if !named || !member(start, end, esc) {
			return false
		}
		more, ok = s.nextMember()
	}
	return ok
}

// appendUnescaped appends the decoded form of a JSON string's raw content
// (already validated by str). Lone surrogates become U+FFFD, as in
// encoding/json.
func appendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			dst = append(dst, raw[i+1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := rune(hex4(raw[i+2:]))
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := utf16.DecodeRune(r, rune(hex4(raw[i+2:]))); r2 != utf8.RuneError {
						dst = utf8.AppendRune(dst, r2)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) int {
	return hexVal(b[0])<<12 | hexVal(b[1])<<8 | hexVal(b[2])<<4 | hexVal(b[3])
}
