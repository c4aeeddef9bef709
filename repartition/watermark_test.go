package repartition

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestWatermark_GapHoldsCheckpoint(t *testing.T) {
	w := NewWatermark("start")
	a, b, c := w.Add("10", 0), w.Add("20", 0), w.Add("30", 0)
	w.Ack(b)
	w.Ack(c)
	if seq, _ := w.Committed(); seq != "start" {
		t.Fatalf("committed %q with record 10 unacknowledged, want start", seq)
	}
	w.Ack(a)
	if seq, ord := w.Committed(); seq != "30" || ord != 3 {
		t.Fatalf("committed %q/%d, want 30/3", seq, ord)
	}
	if w.Pending() != 0 {
		t.Fatalf("pending %d, want 0", w.Pending())
	}
}

func TestWatermark_DoubleAckPanics(t *testing.T) {
	w := NewWatermark("")
	o := w.Add("1", 0)
	w.Add("2", 0)
	w.Ack(o)
	defer func() {
		if recover() == nil {
			t.Fatal("second ack of ordinal 1 did not panic")
		}
	}()
	w.Ack(o)
}

// TestWatermark_RandomAckOrder checks against a direct model: the committed
// ordinal is always the length of the longest acknowledged prefix, and it
// never falls.
func TestWatermark_RandomAckOrder(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		w := NewWatermark("")
		acked := map[uint64]bool{}
		var open []uint64
		var last uint64
		for step := 0; step < 3000; step++ {
			if rng.IntN(2) == 0 || len(open) == 0 {
				o := w.Add(strconv.Itoa(step), 0)
				open = append(open, o)
				continue
			}
			i := rng.IntN(len(open))
			o := open[i]
			open = append(open[:i], open[i+1:]...)
			w.Ack(o)
			acked[o] = true
			var want uint64
			for acked[want+1] {
				want++
			}
			_, got := w.Committed()
			if got != want {
				t.Fatalf("seed %d step %d: committed %d, want %d", seed, step, got, want)
			}
			if got < last {
				t.Fatalf("seed %d: watermark fell from %d to %d", seed, last, got)
			}
			last = got
		}
	}
}
