package repartition

import "fmt"

// Watermark tracks, for one source shard, which records read so far have
// been acknowledged by the destination, and the highest position that is
// safe to checkpoint: the last record of the longest fully acknowledged
// prefix. Invariant: the committed position only rises and never passes an
// unacknowledged record.
//
// Records are numbered by ordinal (1, 2, …) in read order; the ordinal is
// what the Scheduler hands back on acknowledgement. Memory is one slot per
// record between the watermark and the newest read record.
type Watermark struct {
	committed    uint64 // ordinal of the last record of the acked prefix
	committedSeq string
	// ring of records committed+1 … committed+n
	seqs     []string
	arrivals []int64
	acked    []bool
	head     int
	n        int
}

// NewWatermark starts a watermark after seq (empty: nothing read yet).
func NewWatermark(seq string) *Watermark {
	return &Watermark{committedSeq: seq}
}

// Add registers the next record read, with its sequence number and arrival
// time (unix nanoseconds), and returns its ordinal.
func (w *Watermark) Add(seq string, arrival int64) uint64 {
	if w.n == len(w.seqs) {
		w.grow()
	}
	i := (w.head + w.n) % len(w.seqs)
	w.seqs[i], w.arrivals[i], w.acked[i] = seq, arrival, false
	w.n++
	return w.committed + uint64(w.n)
}

func (w *Watermark) grow() {
	size := max(2*len(w.seqs), 64)
	seqs, arrivals, acked := make([]string, size), make([]int64, size), make([]bool, size)
	for i := range w.n {
		j := (w.head + i) % len(w.seqs)
		seqs[i], arrivals[i], acked[i] = w.seqs[j], w.arrivals[j], w.acked[j]
	}
	w.seqs, w.arrivals, w.acked, w.head = seqs, arrivals, acked, 0
}

// Ack marks the record with ordinal ord acknowledged and advances the
// watermark over every acknowledged record at its head. Acknowledging a
// record twice, or one never added, is a bug in the caller: it panics.
func (w *Watermark) Ack(ord uint64) {
	if ord <= w.committed || ord > w.committed+uint64(w.n) {
		panic(fmt.Sprintf("repartition: ack of ordinal %d outside (%d, %d]", ord, w.committed, w.committed+uint64(w.n)))
	}
	i := (w.head + int(ord-w.committed-1)) % len(w.seqs)
	if w.acked[i] {
		panic(fmt.Sprintf("repartition: ordinal %d acknowledged twice", ord))
	}
	w.acked[i] = true
	for w.n > 0 && w.acked[w.head] {
		w.committedSeq = w.seqs[w.head]
		w.seqs[w.head] = ""
		w.committed++
		w.head = (w.head + 1) % len(w.seqs)
		w.n--
	}
}

// Committed returns the checkpointable sequence number (empty if nothing
// has been acknowledged since the start position) and its ordinal.
func (w *Watermark) Committed() (seq string, ord uint64) { return w.committedSeq, w.committed }

// Pending is the number of records read but not yet covered by the
// watermark.
func (w *Watermark) Pending() int { return w.n }

// OldestPending returns the arrival time of the oldest record not yet
// covered by the watermark, and false if there is none.
func (w *Watermark) OldestPending() (int64, bool) {
	if w.n == 0 {
		return 0, false
	}
	return w.arrivals[w.head], true
}

// Last returns the ordinal of the newest record added.
func (w *Watermark) Last() uint64 { return w.committed + uint64(w.n) }
