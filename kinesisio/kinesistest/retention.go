package kinesistest

import (
	"fmt"
	"sort"
)

// Trim drops the records of one shard up to and including sequence number
// seq, as retention drops records that aged out; it returns how many it
// dropped. A long run trims its source behind the relay's checkpoint, so
// the fake's memory stays flat. Reads are unaffected after seq; an
// iterator before it goes on from the oldest record kept, and an AT_ or
// AFTER_SEQUENCE_NUMBER iterator on a trimmed record opens there too.
func (f *Fake) Trim(stream, shardID, seq string) (int, error) {
	n, ok := parseSeq(seq)
	if !ok {
		return 0, fmt.Errorf("trim %s of %s: %q is not a sequence number", shardID, stream, seq)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return 0, fmt.Errorf("trim: stream %q not found", stream)
	}
	s := st.shard(shardID)
	if s == nil {
		return 0, fmt.Errorf("trim: shard %q not found in stream %s", shardID, stream)
	}
	k := sort.Search(len(s.records), func(i int) bool { return s.records[i].seq > n })
	// Clear what is dropped: the backing array keeps its prefix until the
	// next append grows it, and must not keep the data alive meanwhile.
	clear(s.records[:k])
	s.records = s.records[k:]
	s.trimmed += k
	return k, nil
}

// DiscardRecords drops every record stored in stream, handing each to
// visit first (if set): shard by shard in id order, each shard's records
// in sequence order, which is the order they were written in. A long run
// counts and checks its destination this way instead of letting it grow.
// visit runs without the fake's lock, so writes go on meanwhile; data is
// the fake's own copy, which visit must not modify, and may keep. It
// returns how many records it dropped.
func (f *Fake) DiscardRecords(stream string, visit func(shardID, partitionKey string, data []byte)) (int, error) {
	type taken struct {
		s    *shard
		recs []record
	}
	f.mu.Lock()
	st := f.streams[stream]
	if st == nil {
		f.mu.Unlock()
		return 0, fmt.Errorf("discard: stream %q not found", stream)
	}
	all := make([]taken, 0, len(st.shards))
	for _, s := range st.shards {
		if len(s.records) == 0 {
			continue
		}
		all = append(all, taken{s, s.records})
		s.trimmed += len(s.records)
		s.records, s.spare = s.spare, nil // double buffering: no regrowth
	}
	f.mu.Unlock()

	n := 0
	for _, t := range all {
		if visit != nil {
			for i := range t.recs {
				visit(t.s.id, t.recs[i].key, t.recs[i].data)
			}
		}
		n += len(t.recs)
		clear(t.recs)
	}
	f.mu.Lock()
	for _, t := range all {
		if t.s.spare == nil {
			t.s.spare = t.recs[:0]
		}
	}
	f.mu.Unlock()
	return n, nil
}

// Stored returns how many records stream holds now (written, and not yet
// dropped by Trim or DiscardRecords); 0 for an unknown stream.
func (f *Fake) Stored(stream string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return 0
	}
	n := 0
	for _, s := range st.shards {
		n += len(s.records)
	}
	return n
}

// TrimConsumed drops, on every shard of stream, the records GetRecords has
// already returned, and returns how many it dropped: retention for a run
// with one reader that never goes back, whose checkpoint may lag far
// behind its reads. Reads go on as after Trim.
func (f *Fake) TrimConsumed(stream string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return 0, fmt.Errorf("trim: stream %q not found", stream)
	}
	n := 0
	for _, s := range st.shards {
		k := min(s.consumed-s.trimmed, len(s.records))
		if k <= 0 {
			continue
		}
		clear(s.records[:k])
		s.records = s.records[k:]
		s.trimmed += k
		n += k
	}
	return n, nil
}

// Unread returns how many records of stream no GetRecords answer has
// reached yet: a generator feeding a reader bounds its lead with it.
func (f *Fake) Unread(stream string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.streams[stream]
	if st == nil {
		return 0
	}
	n := 0
	for _, s := range st.shards {
		n += s.end() - max(s.consumed, s.trimmed)
	}
	return n
}
