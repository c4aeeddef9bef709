package loadgen

import (
	"encoding/json"
	"testing"
)

func TestGenerator_RecordsAreValidDMSAndDeterministic(t *testing.T) {
	cfg := DefaultConfig()
	a, _ := New(cfg)
	b, _ := New(cfg)
	sizes := 0
	for i := range 2000 {
		ra, rb := a.Next(), b.Next()
		if string(ra.Data) != string(rb.Data) {
			t.Fatalf("record %d differs between two generators with one seed", i)
		}
		var m struct {
			Data     map[string]any `json:"data"`
			Metadata map[string]any `json:"metadata"`
		}
		if err := json.Unmarshal(ra.Data, &m); err != nil {
			t.Fatalf("record %d is not JSON: %v", i, err)
		}
		if i < cfg.Tables {
			if !ra.Control || m.Metadata["operation"] != "create-table" {
				t.Fatalf("record %d: want create-table first", i)
			}
			continue
		}
		if m.Metadata["record-type"] != "data" || m.Data["id"] == nil {
			t.Fatalf("record %d: not a data record with an id", i)
		}
		sizes += len(ra.Data)
	}
	if avg := sizes / (2000 - cfg.Tables); avg < 400 || avg > 700 {
		t.Fatalf("average record size %d, want about 550", avg)
	}
}

func TestGenerator_HotRowShare(t *testing.T) {
	for _, tc := range []struct {
		name string
		zipf float64
	}{{"default", 0}, {"zipf1.2", 1.2}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Zipf = tc.zipf
			g, _ := New(cfg)
			hot := 0
			const n = 200_000
			for range cfg.Tables {
				g.Next()
			}
			for range n {
				if r := g.Next(); r.Table == TableName(0) && r.ID == 0 {
					hot++
				}
			}
			got, want := float64(hot)/n, g.HottestShare()
			if got < want*0.8 || got > want*1.2 {
				t.Fatalf("hottest row share %.4f, want about %.4f", got, want)
			}
		})
	}
}

func TestGenerator_BadRecordsAreSpreadEvenlyAndOfEveryKind(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Records, cfg.BadRecords = 20_000, 1000
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[BadKind]int{}
	seen := map[string]bool{}
	last, maxGap := -1, 0
	for i := range cfg.Records {
		r := g.Next()
		if seen[string(r.Data)] {
			t.Fatalf("record %d (%q) repeats an earlier payload", i, r.Bad)
		}
		seen[string(r.Data)] = true
		if r.Bad == "" {
			continue
		}
		if i < cfg.Tables {
			t.Fatalf("bad record at %d, before the create-table records", i)
		}
		kinds[r.Bad]++
		if last >= 0 {
			maxGap = max(maxGap, i-last)
		}
		last = i
		var v map[string]any
		jsonErr := json.Unmarshal(r.Data, &v)
		switch r.Bad {
		case BadMalformed, BadTruncated:
			if jsonErr == nil {
				t.Fatalf("record %d (%s) is valid JSON", i, r.Bad)
			}
		case BadNoMetadata:
			if jsonErr != nil || v["metadata"] != nil {
				t.Fatalf("record %d (%s): want a JSON object without metadata (%v)", i, r.Bad, jsonErr)
			}
		case BadUnknownRecordType, BadUnknownOperation:
			md, _ := v["metadata"].(map[string]any)
			if jsonErr != nil || md == nil {
				t.Fatalf("record %d (%s): not a JSON object with metadata (%v)", i, r.Bad, jsonErr)
			}
			if r.Bad == BadUnknownRecordType && md["record-type"] == "data" || r.Bad == BadUnknownOperation && md["operation"] != "upsert" {
				t.Fatalf("record %d (%s): metadata %v", i, r.Bad, md)
			}
		case BadOversize:
			if jsonErr != nil || len(r.Data) != MaxRecordBytes-len("LOADTASK") {
				t.Fatalf("record %d (%s): %d bytes, valid JSON: %v", i, r.Bad, len(r.Data), jsonErr)
			}
		}
	}
	total := 0
	for _, k := range append(rotation, BadOversize) {
		if kinds[k] == 0 {
			t.Errorf("no %s record", k)
		}
		total += kinds[k]
	}
	if total != cfg.BadRecords || kinds[BadOversize] != 10 {
		t.Errorf("kinds %v: want %d bad records, 10 oversize", kinds, cfg.BadRecords)
	}
	if want := (cfg.Records - cfg.Tables) / cfg.BadRecords; maxGap > want+1 {
		t.Errorf("largest gap between bad records %d, want about %d", maxGap, want)
	}
}

func TestGenerator_BadRecordsLeaveGoodOnesAlone(t *testing.T) {
	cfg := DefaultConfig()
	plain, _ := New(cfg)
	cfg.Records, cfg.BadRecords = 3000, 60
	mixed, _ := New(cfg)
	for i := 0; i < 2000; {
		r := mixed.Next()
		if r.Bad != "" {
			continue
		}
		if p := plain.Next(); string(p.Data) != string(r.Data) {
			t.Fatalf("good record %d differs once bad records are mixed in", i)
		}
		i++
	}
}
