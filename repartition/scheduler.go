package repartition

import (
	"fmt"
	"slices"
)

// Fence says whether a record is a barrier (a DMS control record).
type Fence uint8

const (
	FenceNone  Fence = iota
	FenceTable       // control record of one table: fences that table
	FenceAll         // task-level control record: fences every record
)

// Entry is one source record on its way to the destination. The Scheduler
// owns it from Push until it is acknowledged; callers fill it from NewEntry.
type Entry struct {
	Data     []byte // payload, forwarded byte for byte
	Key      uint64 // routing key: records of one key are strictly ordered
	Table    uint64 // table-level key of the record's table; 0: no table (invalid records)
	Fence    Fence
	Size     int    // bytes the destination counts: data + partition key
	Shard    int    // caller's index of the source shard
	Ord      uint64 // ordinal in that shard's Watermark
	Seq      string // source sequence number, for logs
	Arrival  int64  // source arrival time, unix nanoseconds
	Attempts int    // sends that did not end in an acknowledgement
	Kind     Kind

	// Lane is the destination shard the entry is sent to (set by Next).
	// HashKey, set on the copies of a fence, places the copy on its lane
	// (an ExplicitHashKey); empty means "derive from Key".
	Lane    int
	HashKey string
	// PartitionKey, if set, is sent instead of the key's hex form (raw
	// dead letters keep their source partition key).
	PartitionKey string

	next *Entry
	q    *keyQueue
	f    *fence // copies: the fence they belong to
}

// Outcome is what an acknowledgement settled.
type Outcome struct {
	// Done: the source record (Shard, Ord) is now fully written, and the
	// watermark may pass it. A fence is done when every copy is written.
	Done    bool
	Shard   int
	Ord     uint64
	Arrival int64 // the source record's arrival time
	// Resend: the entry was written, but an earlier record of its key in
	// the same call failed, so it is sent again after it (replay mode).
	Resend bool
}

// keyQueue holds the unacknowledged records of one key in source order.
// Only records at its head are sent; a record leaves only when written.
type keyQueue struct {
	key        uint64
	head, tail *Entry
	lane       int
	inflight   int   // entries handed out by Next, not yet settled
	failed     bool  // an entry of the current send failed: the rest are resent
	queued     bool  // in a lane's ready ring or the delayed heap
	notBefore  int64 // earliest next send
	heapIdx    int
	detached   bool // a fence copy's own queue, not in keys
}

// fence is a barrier record waiting for its predecessors, or being written
// as one copy per lane.
type fence struct {
	origin *Entry
	armed  bool
	copies int      // copies not yet written
	after  []*Entry // records pushed behind it, in order
}

type tableState struct {
	active int    // records of the table in key queues, not yet written
	fence  *fence // at most one: later fences wait in its after list
}

// lane is one destination shard: its ready keys and its token bucket.
type lane struct {
	startHi, startLo uint64 // first hash key of the shard
	hashKey          string // the same, in decimal, for fence copies
	ready            ring
	active           bool // in Scheduler.activeLanes
	rec, bytes       float64
	last             int64
}

// LaneStart describes a destination shard by the first hash key of its
// range (as two 64-bit halves and in decimal).
type LaneStart struct {
	Hi, Lo  uint64
	HashKey string
}

// SchedulerConfig tunes the Scheduler. The zero value is strict order, one
// lane, no rate limit.
type SchedulerConfig struct {
	// PerKey is how many records of one key may go out in one call. 1 is
	// strict order: a key never has two records unacknowledged. More is
	// replay mode: a key's records share a call in order and, if one
	// fails, it and every later one of its key are sent again, so each
	// key's last occurrences are in order (duplicates instead of
	// stalls). Either way a key is in one call at a time.
	PerKey int
	// LaneRecords and LaneBytes are per-lane (destination shard) rates per
	// second, bursting to one second's worth; 0 means unlimited.
	LaneRecords, LaneBytes float64
}

// Scheduler orders records for sending. Invariants:
//   - Strict per-key order: a record is handed out only when every earlier
//     record of its key is written, or (replay mode) is in the same call
//     ahead of it; a failed record goes out again before any later one of
//     its key.
//   - Fences: a FenceTable record goes out only once every earlier record
//     of its table is written, as one copy per lane, and no later record of
//     the table goes out before every copy is written. FenceAll does the
//     same for every record.
//   - Lanes never exceed their token buckets; keys are served round-robin
//     within and across lanes, so a hot key cannot starve the others.
//
// Timing is passed in as unix nanoseconds; the Scheduler reads no clock.
type Scheduler struct {
	cfg     SchedulerConfig
	keys    map[uint64]*keyQueue
	tables  map[uint64]*tableState
	lanes   []*lane
	active  []int // lanes with ready keys, served round-robin
	cursor  int
	delayed delayHeap
	freeQ   []*keyQueue
	freeE   []*Entry
	freeT   []*tableState

	allFence   *fence
	pendingAll int // records not behind allFence, not yet written

	buffered  int // records pushed and not yet written (copies not counted)
	bytes     int
	blocked   int // records waiting behind a fence
	inflight  int // entries handed out and not yet settled
	tokenWake int64
}

// NewScheduler returns an empty Scheduler with one unlimited lane.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.PerKey < 1 {
		cfg.PerKey = 1
	}
	s := &Scheduler{cfg: cfg, keys: make(map[uint64]*keyQueue), tables: make(map[uint64]*tableState)}
	s.SetLanes(nil)
	return s
}

// SetLanes sets the destination's shards, sorted by starting hash key
// (nil: one lane for everything). Queued keys move to their new lanes.
func (s *Scheduler) SetLanes(starts []LaneStart) {
	var waiting []*keyQueue
	for _, l := range s.lanes {
		for l.ready.len() > 0 {
			waiting = append(waiting, l.ready.pop())
		}
	}
	if len(starts) == 0 {
		starts = []LaneStart{{}}
	}
	s.lanes = s.lanes[:0]
	for _, st := range starts {
		s.lanes = append(s.lanes, &lane{startHi: st.Hi, startLo: st.Lo, hashKey: st.HashKey, last: -1})
	}
	s.active, s.cursor = s.active[:0], 0
	for _, q := range s.keys {
		q.lane = s.laneOf(q.key)
	}
	for _, q := range waiting {
		s.readyNow(q)
	}
}

// Lanes returns the number of lanes.
func (s *Scheduler) Lanes() int { return len(s.lanes) }

// laneOf finds the lane of a key's hash key (key<<64 | key).
func (s *Scheduler) laneOf(key uint64) int {
	i, _ := slices.BinarySearchFunc(s.lanes, key, func(l *lane, k uint64) int {
		switch {
		case l.startHi != k:
			return cmpU64(l.startHi, k)
		default:
			return cmpU64(l.startLo, k)
		}
	})
	// i is the first lane starting above (or at) the hash key.
	if i < len(s.lanes) && s.lanes[i].startHi == key && s.lanes[i].startLo == key {
		return i
	}
	return max(i-1, 0)
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// NewEntry returns a zeroed Entry, reusing written ones.
func (s *Scheduler) NewEntry() *Entry {
	if n := len(s.freeE); n > 0 {
		e := s.freeE[n-1]
		s.freeE = s.freeE[:n-1]
		return e
	}
	return new(Entry)
}

func (s *Scheduler) free(e *Entry) {
	*e = Entry{}
	s.freeE = append(s.freeE, e)
}

// Push adds a record behind every earlier record of its key (and, for
// fences and fenced tables, behind every earlier record they fence).
func (s *Scheduler) Push(e *Entry) {
	s.buffered++
	s.bytes += e.Size
	s.place(e, false)
}

// place routes a record: behind a fence, into a fence, or into its key
// queue. released marks a record coming out of a table fence's wait list:
// it is older than any pending FenceAll and already counted in pendingAll.
func (s *Scheduler) place(e *Entry, released bool) {
	if !released {
		if f := s.allFence; f != nil {
			f.after = append(f.after, e)
			s.blocked++
			return
		}
		s.pendingAll++
	}
	switch e.Fence {
	case FenceAll:
		s.pendingAll-- // a fence does not wait for itself
		s.allFence = &fence{origin: e}
		s.blocked++
		if s.pendingAll == 0 {
			s.arm(s.allFence)
		}
		return
	}
	t := s.table(e.Table)
	if t != nil && t.fence != nil {
		t.fence.after = append(t.fence.after, e)
		s.blocked++
		return
	}
	if e.Fence == FenceTable && t != nil {
		t.fence = &fence{origin: e}
		s.blocked++
		if t.active == 0 {
			s.arm(t.fence)
		}
		return
	}
	if t != nil {
		t.active++
	}
	q := s.keys[e.Key]
	if q == nil {
		q = s.newQueue(e.Key)
		q.lane = s.laneOf(e.Key)
		s.keys[e.Key] = q
	}
	s.enqueue(q, e)
}

func (s *Scheduler) enqueue(q *keyQueue, e *Entry) {
	e.next, e.q = nil, q
	if q.tail == nil {
		q.head, q.tail = e, e
	} else {
		q.tail.next, q.tail = e, e
	}
	if q.inflight == 0 && !q.queued {
		s.makeReady(q)
	}
}

func (s *Scheduler) table(id uint64) *tableState {
	if id == 0 {
		return nil
	}
	t := s.tables[id]
	if t == nil {
		if n := len(s.freeT); n > 0 {
			t, s.freeT = s.freeT[n-1], s.freeT[:n-1]
		} else {
			t = &tableState{}
		}
		s.tables[id] = t
	}
	return t
}

func (s *Scheduler) dropTable(id uint64, t *tableState) {
	delete(s.tables, id)
	*t = tableState{}
	s.freeT = append(s.freeT, t)
}

// arm sends a fence: one copy per lane, each on its own detached queue.
func (s *Scheduler) arm(f *fence) {
	f.armed = true
	s.blocked--
	f.copies = len(s.lanes)
	for i, l := range s.lanes {
		c := s.NewEntry()
		*c = *f.origin
		c.next, c.q, c.f = nil, nil, f
		c.Lane, c.HashKey = i, l.hashKey
		q := s.newQueue(f.origin.Key)
		q.detached, q.lane = true, i
		s.enqueue(q, c)
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

// makeReady puts a key with a sendable head in its lane's ring, or in the
// delayed heap while it backs off.
func (s *Scheduler) makeReady(q *keyQueue) {
	q.queued = true
	if q.notBefore > 0 {
		s.delayed.push(q)
		return
	}
	s.readyNow(q)
}

func (s *Scheduler) readyNow(q *keyQueue) {
	if q.lane >= len(s.lanes) { // a fence copy whose lane went away in a reshard
		q.lane = len(s.lanes) - 1
	}
	l := s.lanes[q.lane]
	l.ready.push(q)
	if !l.active {
		l.active = true
		s.active = append(s.active, q.lane)
	}
}

// Next appends to dst the records ready at now, at most maxRecords and
// maxBytes of Size (at least one record if any is ready and its lane has
// tokens), taking tokens from their lanes and marking them in flight.
// Records of one key are consecutive and in order.
func (s *Scheduler) Next(now int64, maxRecords, maxBytes int, dst []*Entry) []*Entry {
	for s.delayed.len() > 0 && s.delayed.min().notBefore <= now {
		q := s.delayed.pop()
		q.notBefore = 0
		s.readyNow(q)
	}
	s.tokenWake = 0
	n, bytes := 0, 0
	full := func(size int) bool { return n >= maxRecords || (n > 0 && bytes+size > maxBytes) }
	for idle := 0; len(s.active) > 0 && idle < len(s.active) && n < maxRecords; {
		if s.cursor >= len(s.active) {
			s.cursor = 0
		}
		li := s.active[s.cursor]
		l := s.lanes[li]
		if l.ready.len() == 0 {
			l.active = false
			s.active = slices.Delete(s.active, s.cursor, s.cursor+1)
			continue
		}
		q := l.ready.peek()
		if full(q.head.Size) {
			break
		}
		if !s.take(l, q.head.Size, now) {
			s.cursor++
			idle++
			continue
		}
		l.ready.pop()
		q.queued = false
		for e := q.head; ; {
			if invariants && e.q != q {
				panic(fmt.Sprintf("repartition: key %016x entry in a foreign queue", q.key))
			}
			e.Lane = q.lane
			q.inflight++
			s.inflight++
			n++
			bytes += e.Size
			dst = append(dst, e)
			e = e.next
			if e == nil || q.inflight >= s.cfg.PerKey || full(e.Size) || !s.take(l, e.Size, now) {
				break
			}
		}
		idle = 0
		s.cursor++
	}
	return dst
}

// take spends a record's tokens from lane l, if it has them. A record
// bigger than the byte burst passes when the bucket is full.
func (s *Scheduler) take(l *lane, size int, now int64) bool {
	if s.cfg.LaneRecords <= 0 && s.cfg.LaneBytes <= 0 {
		return true
	}
	s.refill(l, now)
	needRec, needBytes := 1.0, min(float64(size), s.cfg.LaneBytes)
	if (s.cfg.LaneRecords > 0 && l.rec < needRec) || (s.cfg.LaneBytes > 0 && l.bytes < needBytes) {
		wait := int64(0)
		if s.cfg.LaneRecords > 0 && l.rec < needRec {
			wait = int64((needRec - l.rec) / s.cfg.LaneRecords * 1e9)
		}
		if s.cfg.LaneBytes > 0 && l.bytes < needBytes {
			wait = max(wait, int64((needBytes-l.bytes)/s.cfg.LaneBytes*1e9))
		}
		if w := now + max(wait, 1); s.tokenWake == 0 || w < s.tokenWake {
			s.tokenWake = w
		}
		return false
	}
	l.rec -= needRec
	l.bytes -= float64(size)
	return true
}

func (s *Scheduler) refill(l *lane, now int64) {
	if l.last < 0 {
		l.rec, l.bytes, l.last = s.cfg.LaneRecords, s.cfg.LaneBytes, now
		return
	}
	dt := float64(now-l.last) / 1e9
	if dt <= 0 {
		return
	}
	l.rec = min(s.cfg.LaneRecords, l.rec+dt*s.cfg.LaneRecords)
	l.bytes = min(s.cfg.LaneBytes, l.bytes+dt*s.cfg.LaneBytes)
	l.last = now
}

// Throttled empties a lane's bucket after the destination throttled an
// entry on it, so the lane pauses instead of bouncing off the limit.
func (s *Scheduler) Throttled(laneIdx int, now int64) {
	if laneIdx < 0 || laneIdx >= len(s.lanes) || (s.cfg.LaneRecords <= 0 && s.cfg.LaneBytes <= 0) {
		return
	}
	l := s.lanes[laneIdx]
	s.refill(l, now)
	l.rec, l.bytes, l.last = 0, 0, now
}

// Ack settles e as written. e is recycled: read what you need first.
func (s *Scheduler) Ack(e *Entry, now int64) Outcome {
	q := e.q
	if q == nil || q.inflight == 0 {
		panic(fmt.Sprintf("repartition: ack of key %016x not in flight", e.Key))
	}
	if q.failed {
		// An earlier record of this key in the same call failed: this one
		// is sent again after it.
		s.settle(q)
		return Outcome{Resend: true}
	}
	if q.head != e {
		panic(fmt.Sprintf("repartition: ack of key %016x out of order", e.Key))
	}
	q.head = e.next
	if q.head == nil {
		q.tail = nil
	}
	var out Outcome
	if f := e.f; f != nil {
		f.copies--
		if f.copies == 0 {
			out = Outcome{Done: true, Shard: f.origin.Shard, Ord: f.origin.Ord, Arrival: f.origin.Arrival}
			s.fenceDone(f)
		}
	} else {
		out = Outcome{Done: true, Shard: e.Shard, Ord: e.Ord, Arrival: e.Arrival}
		s.recordDone(e)
	}
	s.free(e)
	s.settle(q)
	return out
}

// Retry settles e as not written (or maybe written): it stays first in line
// for its key and goes out again no earlier than notBefore, followed by
// every later record of its key.
func (s *Scheduler) Retry(e *Entry, now, notBefore int64) {
	q := e.q
	if q == nil || q.inflight == 0 {
		panic(fmt.Sprintf("repartition: retry of key %016x not in flight", e.Key))
	}
	e.Attempts++
	q.failed = true
	if notBefore > q.notBefore {
		q.notBefore = notBefore
	}
	if q.notBefore <= now {
		q.notBefore = 0
	}
	s.settle(q)
}

// settle counts one settled entry of q and, when its call is fully
// settled, makes the key sendable again or retires its queue.
func (s *Scheduler) settle(q *keyQueue) {
	q.inflight--
	s.inflight--
	if q.inflight > 0 {
		return
	}
	q.failed = false
	if q.head == nil {
		if !q.detached {
			delete(s.keys, q.key)
		}
		s.freeQ = append(s.freeQ, q)
		return
	}
	s.makeReady(q)
}

// recordDone accounts a written non-fence record.
func (s *Scheduler) recordDone(e *Entry) {
	s.buffered--
	s.bytes -= e.Size
	s.pendingAll--
	if t := s.tables[e.Table]; t != nil && e.Table != 0 {
		t.active--
		if t.fence != nil && !t.fence.armed && t.active == 0 {
			s.arm(t.fence)
		} else if t.active == 0 && t.fence == nil {
			s.dropTable(e.Table, t)
		}
	}
	s.checkAllFence()
}

func (s *Scheduler) checkAllFence() {
	if f := s.allFence; f != nil && !f.armed && s.pendingAll == 0 {
		s.arm(f)
	}
}

// fenceDone releases what waited behind a fully written fence, in order.
func (s *Scheduler) fenceDone(f *fence) {
	o := f.origin
	s.buffered--
	s.bytes -= o.Size
	after := f.after
	released := f != s.allFence // a table fence's waiters were counted when pushed
	if !released {
		s.allFence = nil
	} else {
		s.pendingAll--
		if t := s.tables[o.Table]; t != nil {
			t.fence = nil
		}
	}
	s.blocked -= len(after)
	for _, e := range after {
		s.place(e, released)
	}
	if t := s.tables[o.Table]; t != nil && t.fence == nil && t.active == 0 {
		s.dropTable(o.Table, t)
	}
	s.free(o)
	s.checkAllFence()
}

// NextWake returns when Next may next have something that is not ready
// now (a back-off ends, a lane refills), or 0 if nothing waits on time.
func (s *Scheduler) NextWake() int64 {
	w := s.tokenWake
	if s.delayed.len() > 0 {
		if d := s.delayed.min().notBefore; w == 0 || d < w {
			w = d
		}
	}
	return w
}

// Ready reports whether some lane has a ready key (its tokens permitting).
func (s *Scheduler) Ready(now int64) bool {
	if s.delayed.len() > 0 && s.delayed.min().notBefore <= now {
		return true
	}
	for _, li := range s.active {
		if s.lanes[li].ready.len() > 0 {
			if s.cfg.LaneRecords <= 0 && s.cfg.LaneBytes <= 0 {
				return true
			}
			l := s.lanes[li]
			s.refill(l, now)
			if l.rec >= 1 || s.cfg.LaneRecords <= 0 {
				return true
			}
		}
	}
	return false
}

// Buffered returns the records (and bytes) pushed and not yet written.
func (s *Scheduler) Buffered() (records, bytes int) { return s.buffered, s.bytes }

// Blocked returns the records waiting behind a fence.
func (s *Scheduler) Blocked() int { return s.blocked }

// InFlight returns the entries handed out and not yet settled.
func (s *Scheduler) InFlight() int { return s.inflight }

// Keys returns the number of keys with unwritten records.
func (s *Scheduler) Keys() int { return len(s.keys) }

// LaneHashKey returns the decimal first hash key of a lane ("" for the
// single default lane).
func (s *Scheduler) LaneHashKey(i int) string { return s.lanes[i].hashKey }

// LaneOf returns the lane a key is sent on.
func (s *Scheduler) LaneOf(key uint64) int { return s.laneOf(key) }

// ring is a FIFO of key queues.
type ring struct {
	buf        []*keyQueue
	head, size int
}

func (r *ring) len() int { return r.size }

func (r *ring) push(q *keyQueue) {
	if r.size == len(r.buf) {
		n := max(2*len(r.buf), 16)
		buf := make([]*keyQueue, n)
		for i := range r.size {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.size)%len(r.buf)] = q
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

// delayHeap is a min-heap of key queues by notBefore.
type delayHeap struct{ h []*keyQueue }

func (d *delayHeap) len() int           { return len(d.h) }
func (d *delayHeap) min() *keyQueue     { return d.h[0] }
func (d *delayHeap) less(i, j int) bool { return d.h[i].notBefore < d.h[j].notBefore }

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
