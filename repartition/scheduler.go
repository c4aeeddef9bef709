package repartition

import "fmt"

// Entry is one source record on its way to the destination. The Scheduler
// owns it from Push until Ack; callers fill it from NewEntry.
type Entry struct {
	Data     []byte // payload, forwarded byte for byte
	Key      uint64 // routing key: records of one key are strictly ordered
	Size     int    // bytes the destination counts: data + partition key
	Shard    int    // caller's index of the source shard
	Ord      uint64 // ordinal in that shard's Watermark
	Seq      string // source sequence number, for logs
	Arrival  int64  // source arrival time, unix nanoseconds
	Attempts int    // sends that did not end in an acknowledgement
	Kind     Kind

	notBefore int64 // earliest next send, unix nanoseconds
	next      *Entry
	q         *keyQueue
}

// keyQueue holds the unacknowledged records of one key in source order.
// Only its head is ever sent; the head leaves only when acknowledged.
type keyQueue struct {
	key        uint64
	head, tail *Entry
	inflight   bool // head handed out by Next, outcome not settled
	queued     bool // in ready or delayed
	heapIdx    int
}

// Scheduler orders records for sending. Invariant (strict order): it never
// hands out a record while an earlier record of the same key is
// unacknowledged, and a record that failed is handed out again before any
// later record of its key. Keys whose head is ready are served round-robin,
// so one hot key cannot starve the others.
//
// Timing is passed in as unix nanoseconds; the Scheduler reads no clock.
type Scheduler struct {
	keys    map[uint64]*keyQueue
	ready   ring
	delayed delayHeap
	freeQ   []*keyQueue
	freeE   []*Entry

	buffered int // entries pushed and not yet acknowledged
	bytes    int // their Size total
	inflight int // entries handed out and not yet settled
}

// NewScheduler returns an empty Scheduler.
func NewScheduler() *Scheduler {
	return &Scheduler{keys: make(map[uint64]*keyQueue)}
}

// NewEntry returns a zeroed Entry, reusing acknowledged ones.
func (s *Scheduler) NewEntry() *Entry {
	if n := len(s.freeE); n > 0 {
		e := s.freeE[n-1]
		s.freeE = s.freeE[:n-1]
		return e
	}
	return new(Entry)
}

// Push appends e behind every earlier record of its key.
func (s *Scheduler) Push(e *Entry) {
	q := s.keys[e.Key]
	if q == nil {
		q = s.newQueue(e.Key)
		s.keys[e.Key] = q
	}
	e.next, e.q = nil, q
	if q.tail == nil {
		q.head, q.tail = e, e
	} else {
		q.tail.next, q.tail = e, e
	}
	s.buffered++
	s.bytes += e.Size
	if q.head == e && !q.inflight && !q.queued {
		s.ready.push(q)
		q.queued = true
	}
}

func (s *Scheduler) newQueue(key uint64) *keyQueue {
	if n := len(s.freeQ); n > 0 {
		q := s.freeQ[n-1]
		s.freeQ = s.freeQ[:n-1]
		*q = keyQueue{key: key, heapIdx: -1}
		return q
	}
	return &keyQueue{key: key, heapIdx: -1}
}

// Next appends to dst the heads of ready keys, at most maxRecords entries
// and maxBytes of Size in all (at least one entry if any is ready), and
// marks them in flight. Each key appears at most once.
func (s *Scheduler) Next(now int64, maxRecords, maxBytes int, dst []*Entry) []*Entry {
	for s.delayed.len() > 0 && s.delayed.min().head.notBefore <= now {
		q := s.delayed.pop()
		s.ready.push(q)
	}
	bytes := 0
	for n := 0; n < maxRecords && s.ready.len() > 0; n++ {
		q := s.ready.peek()
		e := q.head
		if n > 0 && bytes+e.Size > maxBytes {
			break
		}
		s.ready.pop()
		if invariants && (q.inflight || q.head != e) {
			panic(fmt.Sprintf("repartition: key %016x handed out while in flight", e.Key))
		}
		q.queued, q.inflight = false, true
		bytes += e.Size
		s.inflight++
		dst = append(dst, e)
	}
	return dst
}

// Ack settles e as written: it leaves its key, and the key's next record
// becomes ready. e is recycled: read what you need from it first.
func (s *Scheduler) Ack(e *Entry) {
	q := e.q
	if q == nil || q.head != e || !q.inflight {
		panic(fmt.Sprintf("repartition: ack of key %016x not in flight", e.Key))
	}
	q.inflight = false
	s.inflight--
	s.buffered--
	s.bytes -= e.Size
	q.head = e.next
	if q.head == nil {
		q.tail = nil
		delete(s.keys, q.key)
		s.freeQ = append(s.freeQ, q)
	} else {
		s.ready.push(q)
		q.queued = true
	}
	*e = Entry{}
	s.freeE = append(s.freeE, e)
}

// Retry settles e as not written (or maybe written): it stays at the head of
// its key and is handed out again no earlier than notBefore.
func (s *Scheduler) Retry(e *Entry, now, notBefore int64) {
	q := e.q
	if q == nil || q.head != e || !q.inflight {
		panic(fmt.Sprintf("repartition: retry of key %016x not in flight", e.Key))
	}
	q.inflight = false
	s.inflight--
	e.Attempts++
	e.notBefore = notBefore
	q.queued = true
	if notBefore <= now {
		s.ready.pushFront(q) // first in line: it is the oldest record waiting
		return
	}
	s.delayed.push(q)
}

// NextWake returns the earliest time a delayed key becomes ready, or 0.
func (s *Scheduler) NextWake() int64 {
	if s.delayed.len() == 0 {
		return 0
	}
	return s.delayed.min().head.notBefore
}

// Ready reports whether Next would return something at now.
func (s *Scheduler) Ready(now int64) bool {
	return s.ready.len() > 0 || (s.delayed.len() > 0 && s.delayed.min().head.notBefore <= now)
}

// Buffered returns the number of entries and bytes pushed and not yet
// acknowledged.
func (s *Scheduler) Buffered() (records, bytes int) { return s.buffered, s.bytes }

// InFlight returns the number of entries handed out and not yet settled.
func (s *Scheduler) InFlight() int { return s.inflight }

// Keys returns the number of keys with unacknowledged records.
func (s *Scheduler) Keys() int { return len(s.keys) }

// ring is a FIFO of key queues that can also push at the front.
type ring struct {
	buf        []*keyQueue
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) grow() {
	n := max(2*len(r.buf), 64)
	buf := make([]*keyQueue, n)
	for i := range r.size {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

func (r *ring) push(q *keyQueue) {
	if r.size == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.size)%len(r.buf)] = q
	r.size++
}

func (r *ring) pushFront(q *keyQueue) {
	if r.size == len(r.buf) {
		r.grow()
	}
	r.head = (r.head - 1 + len(r.buf)) % len(r.buf)
	r.buf[r.head] = q
	r.size++
}

func (r *ring) peek() *keyQueue { return r.buf[r.head] }

func (r *ring) pop() *keyQueue {
	q := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return q
}

// delayHeap is a min-heap of key queues by their head's notBefore.
type delayHeap struct{ h []*keyQueue }

func (d *delayHeap) len() int           { return len(d.h) }
func (d *delayHeap) min() *keyQueue     { return d.h[0] }
func (d *delayHeap) less(i, j int) bool { return d.h[i].head.notBefore < d.h[j].head.notBefore }

func (d *delayHeap) swap(i, j int) {
	d.h[i], d.h[j] = d.h[j], d.h[i]
	d.h[i].heapIdx, d.h[j].heapIdx = i, j
}

func (d *delayHeap) push(q *keyQueue) {
	q.heapIdx = len(d.h)
	d.h = append(d.h, q)
	for i := q.heapIdx; i > 0; {
		p := (i - 1) / 2
		if !d.less(i, p) {
			break
		}
		d.swap(i, p)
		i = p
	}
}

func (d *delayHeap) pop() *keyQueue {
	q := d.h[0]
	last := len(d.h) - 1
	d.swap(0, last)
	d.h[last] = nil
	d.h = d.h[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(d.h) && d.less(l, m) {
			m = l
		}
		if r < len(d.h) && d.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		d.swap(i, m)
		i = m
	}
	q.heapIdx = -1
	return q
}
