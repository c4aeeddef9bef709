package faultproxy

import (
	"encoding/json"
	"net/http"
)

// The admin endpoint lets a test drive a proxy in another process:
//
//	GET    /_faults  → {"seed":N,"faults":{"":{...},"stream":{...}}}
//	POST   /_faults  {"stream":"s","faults":{"throttle_rate":0.1,"latency":"50ms"}}
//	                 {"stream":"s","clear":true}   (stream "" = the defaults)
//	DELETE /_faults  clears every stream's faults and the defaults
//	GET    /_stats   → Stats
//	DELETE /_stats   zeroes the counters
//
// POST answers like GET; a bad body or an out-of-range fault is a 400
// naming every bad field, and changes nothing.

// faultsRequest is a POST /_faults body.
type faultsRequest struct {
	Stream string  `json:"stream"`
	Faults *Faults `json:"faults"`
	Clear  bool    `json:"clear"`
}

// faultsReply is GET /_faults.
type faultsReply struct {
	Seed   uint64            `json:"seed"`
	Faults map[string]Faults `json:"faults"`
}

func (p *Proxy) admin(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_faults" && r.Method == http.MethodGet:
	case r.URL.Path == "/_faults" && r.Method == http.MethodPost:
		var req faultsRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			http.Error(w, "faultproxy: bad /_faults body: "+err.Error(), http.StatusBadRequest)
			return
		}
		switch {
		case req.Clear && req.Faults != nil:
			http.Error(w, "faultproxy: /_faults: give faults or clear, not both", http.StatusBadRequest)
			return
		case req.Clear:
			p.ClearFaults(req.Stream)
		case req.Faults == nil:
			http.Error(w, "faultproxy: /_faults: faults or clear required", http.StatusBadRequest)
			return
		default:
			if err := p.SetFaults(req.Stream, *req.Faults); err != nil {
				http.Error(w, "faultproxy: "+err.Error(), http.StatusBadRequest)
				return
			}
		}
	case r.URL.Path == "/_faults" && r.Method == http.MethodDelete:
		p.mu.Lock()
		p.faults = map[string]Faults{"": {}}
		p.mu.Unlock()
	case r.URL.Path == "/_stats" && r.Method == http.MethodGet:
		writeJSON(w, p.Stats())
		return
	case r.URL.Path == "/_stats" && r.Method == http.MethodDelete:
		p.ResetStats()
		writeJSON(w, p.Stats())
		return
	default:
		http.Error(w, "faultproxy: unknown admin call "+r.Method+" "+r.URL.Path, http.StatusNotFound)
		return
	}
	writeJSON(w, faultsReply{Seed: p.seed, Faults: p.Faults()})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
