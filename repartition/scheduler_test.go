package repartition

import (
	"math/rand/v2"
	"testing"
)

func push(s *Scheduler, key uint64, ord uint64) *Entry {
	e := s.NewEntry()
	e.Key, e.Ord, e.Size = key, ord, 100
	s.Push(e)
	return e
}

func TestScheduler_OneRecordPerKeyInFlight(t *testing.T) {
	s := NewScheduler()
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
	s.Ack(got[0])
	got2 := s.Next(0, 500, 1<<20, nil)
	if len(got2) != 1 || got2[0].Ord != 2 {
		t.Fatalf("after ack = %v, want [2]", ords(got2))
	}
}

func TestScheduler_FailedHeadGoesBeforeLaterRecordsOfItsKey(t *testing.T) {
	s := NewScheduler()
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
	s := NewScheduler()
	for i := range 100 {
		push(s, 1, uint64(i+1))
	}
	push(s, 2, 101)
	b := s.Next(0, 500, 1<<20, nil)
	if len(b) != 2 {
		t.Fatalf("batch = %v, want one record of each key", ords(b))
	}
}

func TestScheduler_BatchLimits(t *testing.T) {
	s := NewScheduler()
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

func TestScheduler_MisuseePanics(t *testing.T) {
	s := NewScheduler()
	e := push(s, 1, 1)
	defer func() {
		if recover() == nil {
			t.Fatal("ack of a record never handed out did not panic")
		}
	}()
	s.Ack(e)
}

// TestScheduler_RandomOutcomesKeepPerKeyOrder drives the scheduler with
// random pushes and random per-entry outcomes (ack, retry now, retry later)
// and checks, independently of the implementation, that each key's
// acknowledgements come in push order, that no two records of one key are
// ever in flight together, and that everything is acknowledged in the end.
func TestScheduler_RandomOutcomesKeepPerKeyOrder(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		s := NewScheduler()
		pushed := map[uint64][]uint64{}
		acked := map[uint64][]uint64{}
		inflight := map[uint64]bool{}
		var ord uint64
		now := int64(0)
		var batch []*Entry
		for step := 0; step < 2000 || s.buffered > 0; step++ {
			if step > 100000 {
				t.Fatalf("seed %d: did not drain", seed)
			}
			if step < 2000 {
				for range rng.IntN(5) {
					ord++
					k := uint64(rng.IntN(20))
					if rng.IntN(3) == 0 {
						k = 0 // hot key
					}
					pushed[k] = append(pushed[k], ord)
					push(s, k, ord)
				}
			}
			now += int64(rng.IntN(10))
			batch = s.Next(now, 1+rng.IntN(50), 1<<20, batch[:0])
			for _, e := range batch {
				if inflight[e.Key] {
					t.Fatalf("seed %d: key %d has two records in flight", seed, e.Key)
				}
				inflight[e.Key] = true
			}
			for _, e := range batch {
				inflight[e.Key] = false
				switch rng.IntN(10) {
				case 0, 1, 2: // 30% partial failure
					s.Retry(e, now, now+int64(rng.IntN(30)))
				default:
					acked[e.Key] = append(acked[e.Key], e.Ord)
					s.Ack(e)
				}
			}
		}
		for k, want := range pushed {
			got := acked[k]
			if len(got) != len(want) {
				t.Fatalf("seed %d key %d: acked %d of %d", seed, k, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("seed %d key %d: ack order %v, want %v", seed, k, got, want)
				}
			}
		}
		if s.Keys() != 0 || s.InFlight() != 0 {
			t.Fatalf("seed %d: %d keys, %d in flight left", seed, s.Keys(), s.InFlight())
		}
	}
}

func TestScheduler_SteadyStateAllocatesNothing(t *testing.T) {
	s := NewScheduler()
	var batch []*Entry
	var k uint64
	warm := func() {
		for range 500 {
			k++
			e := s.NewEntry()
			e.Key, e.Size = k%1000, 500
			s.Push(e)
		}
		batch = s.Next(0, 500, 5<<20, batch[:0])
		for _, e := range batch {
			s.Ack(e)
		}
		for s.buffered > 0 {
			batch = s.Next(0, 500, 5<<20, batch[:0])
			for _, e := range batch {
				s.Ack(e)
			}
		}
	}
	warm()
	if a := testing.AllocsPerRun(20, warm); a != 0 {
		t.Fatalf("allocations per 500 records = %v, want 0", a)
	}
}

func ords(es []*Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Ord
	}
	return out
}
