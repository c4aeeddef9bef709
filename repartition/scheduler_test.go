package repartition

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func push(s *Scheduler, key uint64, ord uint64) *Entry {
	e := s.NewEntry()
	e.Key, e.Ord, e.Size = key, ord, 100
	s.Push(e)
	return e
}

func strict() *Scheduler { return NewScheduler(SchedulerConfig{}) }

func TestScheduler_OneRecordPerKeyInFlight(t *testing.T) {
	s := strict()
	push(s, 1, 1)
	push(s, 1, 2)
	push(s, 2, 3)
	got := s.Next(0, 500, 1<<20, nil)
	if len(got) != 2 || got[0].Ord != 1 || got[1].Ord != 3 {
		t.Fatalf("first batch = %v, want ords [1 3]", ords(got))
	}
	if more := s.Next(0, 500, 1<<20, nil); len(more) != 0 {
		t.Fatalf("second batch while key 1 in flight = %v, want none", ords(more))
	}
	if o := s.Ack(got[0], 0); !o.Done || o.Ord != 1 {
		t.Fatalf("ack outcome %+v", o)
	}
	got2 := s.Next(0, 500, 1<<20, nil)
	if len(got2) != 1 || got2[0].Ord != 2 {
		t.Fatalf("after ack = %v, want [2]", ords(got2))
	}
}

func TestScheduler_FailedHeadGoesBeforeLaterRecordsOfItsKey(t *testing.T) {
	s := strict()
	push(s, 7, 1)
	push(s, 7, 2)
	b := s.Next(0, 500, 1<<20, nil)
	s.Retry(b[0], 0, 50)
	if got := s.Next(10, 500, 1<<20, nil); len(got) != 0 {
		t.Fatalf("during back-off got %v, want nothing", ords(got))
	}
	if w := s.NextWake(); w != 50 {
		t.Fatalf("NextWake = %d, want 50", w)
	}
	got := s.Next(50, 500, 1<<20, nil)
	if len(got) != 1 || got[0].Ord != 1 || got[0].Attempts != 1 {
		t.Fatalf("after back-off got %v, want the failed record 1 again", ords(got))
	}
}

func TestScheduler_HotKeyDoesNotStarveOthers(t *testing.T) {
	s := strict()
	for i := range 100 {
		push(s, 1, uint64(i+1))
	}
	push(s, 2, 101)
	if b := s.Next(0, 500, 1<<20, nil); len(b) != 2 {
		t.Fatalf("batch = %v, want one record of each key", ords(b))
	}
}

func TestScheduler_BatchLimits(t *testing.T) {
	s := strict()
	for k := range uint64(10) {
		push(s, k, k+1)
	}
	if b := s.Next(0, 3, 1<<20, nil); len(b) != 3 {
		t.Fatalf("maxRecords 3: got %d", len(b))
	}
	if b := s.Next(0, 500, 250, nil); len(b) != 2 {
		t.Fatalf("maxBytes 250 with 100-byte entries: got %d, want 2", len(b))
	}
	if b := s.Next(0, 500, 10, nil); len(b) != 1 {
		t.Fatalf("an entry bigger than maxBytes still goes alone: got %d", len(b))
	}
}

func TestScheduler_MisusePanics(t *testing.T) {
	s := strict()
	e := push(s, 1, 1)
	defer func() {
		if recover() == nil {
			t.Fatal("ack of a record never handed out did not panic")
		}
	}()
	s.Ack(e, 0)
}

func TestScheduler_ReplayModeSendsAKeysRecordsTogetherAndResendsAfterAFailure(t *testing.T) {
	s := NewScheduler(SchedulerConfig{PerKey: 10})
	for i := range 5 {
		push(s, 1, uint64(i+1))
	}
	b := s.Next(0, 500, 1<<20, nil)
	if len(b) != 5 {
		t.Fatalf("replay mode batch %v, want all 5 records of the key", ords(b))
	}
	s.Ack(b[0], 0)
	s.Retry(b[1], 0, 0)
	for _, e := range b[2:] {
		if o := s.Ack(e, 0); !o.Resend || o.Done {
			t.Fatalf("record %d after a failed one: %+v, want resend", e.Ord, o)
		}
	}
	again := s.Next(0, 500, 1<<20, nil)
	if fmt.Sprint(ords(again)) != "[2 3 4 5]" {
		t.Fatalf("resend %v, want [2 3 4 5]", ords(again))
	}
}

func TestScheduler_TableFenceWaitsForItsTableAndHoldsLaterRecords(t *testing.T) {
	s := NewScheduler(SchedulerConfig{})
	s.SetLanes(lanes(4))
	mk := func(key, table uint64, ord uint64, f Fence) *Entry {
		e := s.NewEntry()
		e.Key, e.Table, e.Ord, e.Size, e.Fence = key, table, ord, 10, f
		s.Push(e)
		return e
	}
	mk(1, 100, 1, FenceNone) // table 100, before the fence
	mk(2, 200, 2, FenceNone) // other table
	mk(100, 100, 3, FenceTable)
	mk(3, 100, 4, FenceNone) // table 100, after the fence
	b := s.Next(0, 500, 1<<20, nil)
	if fmt.Sprint(ords(b)) != "[1 2]" {
		t.Fatalf("first batch %v, want [1 2]: the fence waits, its table's later record too", ords(b))
	}
	s.Ack(b[1], 0) // other table: fence still waits
	if got := s.Next(0, 500, 1<<20, nil); len(got) != 0 {
		t.Fatalf("fence went out before its table's earlier record was written: %v", ords(got))
	}
	s.Ack(b[0], 0)
	copies := s.Next(0, 500, 1<<20, nil)
	if len(copies) != 4 {
		t.Fatalf("fence copies %d, want one per lane (4)", len(copies))
	}
	seen := map[int]bool{}
	for _, c := range copies {
		if c.Ord != 3 || c.HashKey == "" || seen[c.Lane] {
			t.Fatalf("copy %+v", c)
		}
		seen[c.Lane] = true
	}
	for i, c := range copies {
		if o := s.Ack(c, 0); o.Done != (i == 3) {
			t.Fatalf("copy %d ack: %+v; the fence is done only with its last copy", i, o)
		}
		if i < 3 && len(s.Next(0, 500, 1<<20, nil)) != 0 {
			t.Fatal("a record behind the fence went out before every copy was written")
		}
	}
	if after := s.Next(0, 500, 1<<20, nil); fmt.Sprint(ords(after)) != "[4]" {
		t.Fatalf("after the fence: %v, want [4]", ords(after))
	}
}

func TestScheduler_LaneTokenBucketPacesAShard(t *testing.T) {
	s := NewScheduler(SchedulerConfig{LaneRecords: 1000, LaneBytes: 1 << 20})
	s.SetLanes(lanes(1))
	for i := range 3000 {
		push(s, uint64(i), uint64(i+1))
	}
	sec := int64(1e9)
	var sent int
	for now := int64(0); now <= 2*sec; now += sec / 100 {
		for _, e := range s.Next(now, 500, 5<<20, nil) {
			sent++
			s.Ack(e, now)
		}
	}
	// One second of burst plus two seconds of refill.
	if sent < 2900 || sent > 3000 {
		t.Fatalf("sent %d records in 2 s on one lane at 1000/s with a 1 s burst, want about 3000", sent)
	}
	s2 := NewScheduler(SchedulerConfig{LaneRecords: 1000, LaneBytes: 1 << 20})
	for i := range 1500 {
		push(s2, uint64(i), uint64(i+1))
	}
	n := 0
	for range 5 {
		n += len(s2.Next(0, 500, 5<<20, nil))
	}
	if n != 1000 {
		t.Fatalf("at one instant a lane gave %d records, want its 1000-record burst", n)
	}
	if w := s2.NextWake(); w <= 0 || w > sec/100 {
		t.Fatalf("NextWake %d, want the next token within 10 ms", w)
	}
}

// TestScheduler_RandomModel drives the scheduler with random pushes
// (records, table fences, task fences), random outcomes (ack, retry now,
// retry later), random lane changes, in both ordering modes, and checks an
// independent model after every step:
//   - strict: no key has two records in flight; acknowledgements of a key
//     come in push order;
//   - replay: a key is in one call at a time; each record's last write is in
//     push order within its key;
//   - fences: no copy goes out before every earlier record it fences is
//     written; no later record it fences goes out before it is done;
//   - everything is written in the end, with nothing left in the Scheduler.
func TestScheduler_RandomModel(t *testing.T) {
	for _, perKey := range []int{1, 8} {
		for seed := uint64(1); seed <= 30; seed++ {
			t.Run(fmt.Sprintf("perKey%d/seed%d", perKey, seed), func(t *testing.T) {
				randomModel(t, seed, perKey)
			})
		}
	}
}

type modelRec struct {
	key, table uint64
	fence      Fence
	ord        uint64
	done       bool
	lastWrite  int // step of the last write (replay)
}

func randomModel(t *testing.T, seed uint64, perKey int) {
	rng := rand.New(rand.NewPCG(seed, uint64(perKey)))
	s := NewScheduler(SchedulerConfig{PerKey: perKey})
	s.SetLanes(lanes(1 + rng.IntN(4)))
	var recs []*modelRec // by ord-1
	inflightKey := map[uint64]bool{}
	lastDone := map[uint64]uint64{} // strict: last acknowledged ord per key
	writeOrder := map[uint64][]uint64{}
	now := int64(0)
	var batch []*Entry
	const pushes = 1500
	for step := 0; ; step++ {
		if step > 200000 {
			t.Fatalf("seed %d: did not drain", seed)
		}
		if step < pushes {
			for range rng.IntN(4) {
				table := uint64(1 + rng.IntN(3))
				r := &modelRec{key: table*1000 + uint64(rng.IntN(6)), table: table, ord: uint64(len(recs) + 1)}
				switch x := rng.IntN(100); {
				case x < 3:
					r.fence, r.key = FenceTable, table*1000+999
				case x < 4:
					r.fence, r.key, r.table = FenceAll, 7777, 99
				}
				if r.fence == FenceNone && rng.IntN(10) == 0 {
					r.table, r.key = 0, 5000+uint64(rng.IntN(3)) // invalid record: no table
				}
				recs = append(recs, r)
				e := s.NewEntry()
				e.Key, e.Table, e.Fence, e.Ord, e.Size = r.key, r.table, r.fence, r.ord, 10
				s.Push(e)
			}
		} else if b, _ := s.Buffered(); b == 0 {
			break
		}
		if rng.IntN(200) == 0 {
			s.SetLanes(lanes(1 + rng.IntN(4)))
		}
		now += int64(rng.IntN(5))
		batch = s.Next(now, 1+rng.IntN(30), 1<<20, batch[:0])
		inBatch := map[uint64]bool{}
		for _, e := range batch {
			r := recs[e.Ord-1]
			// Fences: what a handed-out entry must not overtake.
			for _, o := range recs[:e.Ord-1] {
				if o.done {
					continue
				}
				fenced := (r.fence == FenceAll) || (r.fence == FenceTable && o.table == r.table) ||
					(o.fence == FenceAll) || (o.fence == FenceTable && r.table == o.table && r.table != 0)
				if fenced {
					t.Fatalf("seed %d: record %d (fence %d table %d key %d) went out before record %d (fence %d table %d key %d) was written", seed, r.ord, r.fence, r.table, r.key, o.ord, o.fence, o.table, o.key)
				}
			}
			if r.fence == FenceNone {
				if inflightKey[e.Key] && !inBatch[e.Key] {
					t.Fatalf("seed %d: key %d in two calls at once", seed, e.Key)
				}
				if perKey == 1 && inBatch[e.Key] {
					t.Fatalf("seed %d: strict mode put key %d twice in one call", seed, e.Key)
				}
				inflightKey[e.Key] = true
				inBatch[e.Key] = true
			}
		}
		for _, e := range batch {
			r := recs[e.Ord-1]
			if r.fence == FenceNone {
				inflightKey[e.Key] = false
			}
			switch rng.IntN(10) {
			case 0, 1, 2: // 30% fail
				s.Retry(e, now, now+int64(rng.IntN(20)))
			default:
				key, ord, isCopy := e.Key, e.Ord, e.HashKey != "" || r.fence != FenceNone
				o := s.Ack(e, now)
				if !isCopy {
					writeOrder[key] = append(writeOrder[key], ord)
				}
				if o.Done {
					rr := recs[o.Ord-1]
					if perKey == 1 && rr.fence == FenceNone && lastDone[rr.key] > rr.ord {
						t.Fatalf("seed %d: key %d acknowledged %d after %d", seed, rr.key, rr.ord, lastDone[rr.key])
					}
					lastDone[rr.key] = rr.ord
					rr.done = true
				}
			}
		}
	}
	for _, r := range recs {
		if !r.done {
			t.Fatalf("seed %d: record %d never written", seed, r.ord)
		}
	}
	// Last occurrences in push order, per key (both modes).
	for key, w := range writeOrder {
		last := map[uint64]int{}
		for i, o := range w {
			last[o] = i
		}
		var prev uint64
		for _, r := range recs {
			if r.key != key || r.fence != FenceNone {
				continue
			}
			if prev != 0 && last[r.ord] < last[prev] {
				t.Fatalf("seed %d: key %d: last write of %d before last write of %d", seed, key, r.ord, prev)
			}
			prev = r.ord
		}
	}
	if s.Keys() != 0 || s.InFlight() != 0 || s.Blocked() != 0 {
		t.Fatalf("seed %d: %d keys, %d in flight, %d blocked left", seed, s.Keys(), s.InFlight(), s.Blocked())
	}
}

func TestScheduler_SteadyStateAllocatesNothing(t *testing.T) {
	s := NewScheduler(SchedulerConfig{LaneRecords: 1e9, LaneBytes: 1e12})
	s.SetLanes(lanes(16))
	var batch []*Entry
	var k uint64
	cycle := func() {
		for range 500 {
			k++
			e := s.NewEntry()
			e.Key, e.Table, e.Size = k%1000*0x9E3779B97F4A7C15, 1+k%4, 500
			s.Push(e)
		}
		for b, _ := s.Buffered(); b > 0; b, _ = s.Buffered() {
			batch = s.Next(0, 500, 5<<20, batch[:0])
			for _, e := range batch {
				s.Ack(e, 0)
			}
		}
	}
	for range 3 {
		cycle()
	}
	if a := testing.AllocsPerRun(20, cycle); a != 0 {
		t.Fatalf("allocations per 500 records = %v, want 0", a)
	}
}

// lanes returns n lanes splitting the hash key space evenly.
func lanes(n int) []LaneStart {
	out := make([]LaneStart, n)
	for i := range out {
		hi := uint64(i) * (^uint64(0) / uint64(n))
		if i == 0 {
			hi = 0
		}
		out[i] = LaneStart{Hi: hi, Lo: 0, HashKey: fmt.Sprint("lane", i)}
	}
	return out
}

func ords(es []*Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Ord
	}
	return out
}
