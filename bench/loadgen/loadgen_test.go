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
