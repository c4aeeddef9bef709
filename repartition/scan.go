package repartition

import (
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

func (s *scanner) ws() {
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

// strClass marks bytes that end the fast path inside a string.
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

// str scans a string whose opening quote is at s.i. It returns the bounds of
// the raw content (between the quotes) and whether it holds escapes.
func (s *scanner) str() (start, end int, esc, ok bool) {
	s.i++ // opening quote
	start = s.i
	b := s.b
	for {
		for s.i < len(b) && !strClass[b[s.i]] {
			s.i++
		}
		if s.i >= len(b) {
			return 0, 0, false, s.fail("unterminated string")
		}
		switch c := b[s.i]; {
		case c == '"':
			end = s.i
			s.i++
			return start, end, esc, true
		case c == '\\':
			esc = true
			if s.i+1 >= len(b) {
				return 0, 0, false, s.fail("unterminated string")
			}
			switch b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(b) {
					return 0, 0, false, s.fail("unterminated string")
				}
				for _, h := range b[s.i+2 : s.i+6] {
					if hexVal(h) < 0 {
						return 0, 0, false, s.fail("invalid \\u escape")
					}
				}
				s.i += 6
			default:
				return 0, 0, false, s.fail("invalid escape")
			}
		case c < 0x20:
			return 0, 0, false, s.fail("control character in string")
		default: // non-ASCII: must be valid UTF-8
			r, size := utf8.DecodeRune(b[s.i:])
			if r == utf8.RuneError && size <= 1 {
				return 0, 0, false, s.fail("invalid UTF-8")
			}
			s.i += size
		}
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

// number scans a JSON number at s.i.
func (s *scanner) number() bool {
	b := s.b
	if s.peek() == '-' {
		s.i++
	}
	switch {
	case s.i < len(b) && b[s.i] == '0':
		s.i++
	case s.i < len(b) && b[s.i] >= '1' && b[s.i] <= '9':
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	default:
		return s.fail("invalid number")
	}
	if s.i < len(b) && b[s.i] == '.' {
		s.i++
		if s.i >= len(b) || !isDigit(b[s.i]) {
			return s.fail("invalid number")
		}
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	}
	if s.i < len(b) && (b[s.i] == 'e' || b[s.i] == 'E') {
		s.i++
		if s.i < len(b) && (b[s.i] == '+' || b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(b) || !isDigit(b[s.i]) {
			return s.fail("invalid number")
		}
		for s.i < len(b) && isDigit(b[s.i]) {
			s.i++
		}
	}
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
	start, end, esc, ok = s.str()
	if !ok {
		return
	}
	s.ws()
	if s.peek() != ':' {
		return 0, 0, false, s.fail("expected ':' after object key")
	}
	s.i++
	return start, end, esc, true
}

// skip scans one complete value at s.i (leading whitespace allowed) without
// recursion. It leaves s.i just after the value.
func (s *scanner) skip() bool {
	base := s.depth
	for {
		// Expect a value.
		s.ws()
		switch c := s.peek(); {
		case c == '{':
			s.i++
			if !s.push(true) {
				return false
			}
			s.ws()
			if s.peek() == '}' {
				s.i++
				s.depth--
				break
			}
			if _, _, _, ok := s.memberName(); !ok {
				return false
			}
			continue
		case c == '[':
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
		case c == '"':
			if _, _, _, ok := s.str(); !ok {
				return false
			}
		case c == '-' || isDigit(c):
			if !s.number() {
				return false
			}
		case c == 't':
			if !s.literal("true") {
				return false
			}
		case c == 'f':
			if !s.literal("false") {
				return false
			}
		case c == 'n':
			if !s.literal("null") {
				return false
			}
		case s.i >= len(s.b):
			return s.fail("unexpected end of input")
		default:
			return s.fail("unexpected character")
		}
		// After a value: close containers or move to the next element.
		for {
			if s.depth == base {
				return true
			}
			s.ws()
			c := s.peek()
			if s.topIsObject() {
				if c == ',' {
					s.i++
					if _, _, _, ok := s.memberName(); !ok {
						return false
					}
					break
				}
				if c == '}' {
					s.i++
					s.depth--
					continue
				}
				if s.i >= len(s.b) {
					return s.fail("unexpected end of input")
				}
				return s.fail("expected ',' or '}'")
			}
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
	s.i++
	if !s.push(true) {
		return false
	}
	s.ws()
	if s.peek() == '}' {
		s.i++
		s.depth--
		return true
	}
	for {
		start, end, esc, ok := s.memberName()
		if !ok {
			return false
		}
		if !member(start, end, esc) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return true
		default:
			if s.i >= len(s.b) {
				return s.fail("unexpected end of input")
			}
			return s.fail("expected ',' or '}'")
		}
	}
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
