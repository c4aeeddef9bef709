package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/repartd/repartd/kinesisio"
	"github.com/repartd/repartd/repartition"
)

// RunProfile runs workload (b) once with the relay in this process under
// runtime/pprof: repartd has no profiling flag, and kinesisio.Relay is
// exactly what `repartd run` runs (same DefaultConfig, same clients).
func (e *Env) RunProfile(ctx context.Context, ceiling float64) (*ProfileResult, error) {
	sz := e.Cfg.Sizes
	if err := e.freshPair(ctx); err != nil {
		return nil, err
	}
	src, dst := e.StreamName("prof-src"), e.StreamName("prof-dst")
	if err := e.Create(ctx, false, src, 1); err != nil {
		return nil, err
	}
	if err := e.Create(ctx, true, dst, 16); err != nil {
		return nil, err
	}
	n := e.recordsFor(ceiling, sz.RelaySeconds)
	if _, err := e.Load(ctx, LoadSpec{Stream: src, Records: n}); err != nil {
		return nil, err
	}
	cfg := kinesisio.DefaultConfig()
	cfg.Source, cfg.Dest = src, dst
	cfg.StopWhenIdle = 2 * time.Second
	cfg.LogInterval = time.Second
	rules, err := repartition.NewKeyRules(nil)
	if err != nil {
		return nil, err
	}
	cfg.Rules = rules
	conns := cfg.MaxInFlight + 16
	sc, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: e.Target.SourceURL(), MaxConns: conns})
	if err != nil {
		return nil, err
	}
	dc, err := kinesisio.NewClient(ctx, kinesisio.ClientOptions{EndpointURL: e.Target.DestURL(), MaxConns: conns})
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(e.Cfg.Work, "logs", "profile-relay.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	relay, err := kinesisio.NewRelay(cfg, sc, dc, &kinesisio.MemStore{}, zerolog.New(logf).With().Timestamp().Logger())
	if err != nil {
		return nil, err
	}
	profPath, _ := filepath.Abs(filepath.Join(e.Cfg.OutDir, "relay-cpu.prof"))
	f, err := os.Create(profPath)
	if err != nil {
		return nil, err
	}
	cpu0, t0 := selfCPU(), time.Now()
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	runErr := relay.Run(ctx)
	pprof.StopCPUProfile()
	f.Close()
	if runErr != nil {
		return nil, fmt.Errorf("in-process relay: %w", runErr)
	}
	st := relay.Stats()
	busy := st.LastOut.Sub(st.FirstIn).Seconds()
	res := &ProfileResult{
		Command:     fmt.Sprintf("harness: kinesisio.NewRelay(DefaultConfig, stop-when-idle 2s).Run under runtime/pprof, 1 → 16 shards, %d records", n),
		Records:     int(st.RecordsOut),
		RecordsPerS: Num(Ratio(float64(st.RecordsOut), busy)),
		CPUSeconds:  selfCPU() - cpu0,
		Seconds:     time.Since(t0).Seconds(),
		File:        profPath,
	}
	if rel, err := filepath.Rel(e.Cfg.Repo, profPath); err == nil {
		res.File = rel
	}
	top, err := pprofTop(ctx, profPath, false)
	if err != nil {
		return res, err
	}
	res.Flat = top[:min(len(top), 20)]
	cum, err := pprofTop(ctx, profPath, true)
	if err != nil {
		return res, err
	}
	res.Cum = cum[:min(len(cum), 20)]
	res.Entries = EntryProfile(top, cum)
	res.Groups = GroupProfile(top)
	return res, nil
}

// pprofTop runs `go tool pprof -top` and parses its table.
func pprofTop(ctx context.Context, path string, cum bool) ([]ProfileEntry, error) {
	args := []string{"tool", "pprof", "-top", "-nodecount=100000"}
	if cum {
		args = []string{"tool", "pprof", "-top", "-cum", "-nodecount=100000"}
	}
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	return ParsePprofTop(string(out), cum), nil
}

// ParsePprofTop reads the rows of `go tool pprof -top` output: flat
// figures, or cumulative ones when cum is set.
func ParsePprofTop(out string, cum bool) []ProfileEntry {
	var res []ProfileEntry
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[1], "%") || !strings.HasSuffix(f[4], "%") {
			continue
		}
		secI, pctI := 0, 1
		if cum {
			secI, pctI = 3, 4
		}
		sec, ok := parsePprofDuration(f[secI])
		if !ok {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[pctI], "%"), 64)
		if err != nil {
			continue
		}
		res = append(res, ProfileEntry{Name: strings.Join(f[5:], " "), Seconds: sec, Percent: pct})
	}
	return res
}

func parsePprofDuration(s string) (float64, bool) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "mins"):
		s, mult = strings.TrimSuffix(s, "mins"), 60
	case strings.HasSuffix(s, "hrs"):
		s, mult = strings.TrimSuffix(s, "hrs"), 3600
	default:
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, false
		}
		return d.Seconds(), true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mult, err == nil
}

// profileGroups classify a function by where its time goes; the first
// match wins.
var profileGroups = []struct{ name, match string }{
	{"repartd core (repartition: scan, key, hash, scheduler)", "/repartd/repartition."},
	{"repartd relay (kinesisio: loop, reader, writer)", "/repartd/kinesisio."},
	{"repartd core (repartition: scan, key, hash, scheduler)", "/cespare/xxhash"},
	{"logging (zerolog)", "/rs/zerolog"},
	{"AWS SDK and smithy-go (middleware, request/response JSON)", "/aws-sdk-go-v2"},
	{"AWS SDK and smithy-go (middleware, request/response JSON)", "/smithy-go"},
	{"encoding/json", "encoding/json."},
	{"encoding/base64 (record data travels base64 in JSON)", "encoding/base64."},
	{"crypto (SigV4: SHA-256, HMAC)", "crypto/"},
	{"net/http, net, bufio (HTTP client)", "net/http."},
	{"net/http, net, bufio (HTTP client)", "net."},
	{"net/http, net, bufio (HTTP client)", "internal/poll."},
	{"net/http, net, bufio (HTTP client)", "bufio."},
	{"syscalls (read, write, epoll)", "syscall."},
	{"syscalls (read, write, epoll)", "internal/runtime/syscall"},
	{"memory copies and compares (memmove, memeq)", "runtime.memmove"},
	{"memory copies and compares (memmove, memeq)", "memeqbody"},
	{"strings, strconv, bytes, slices, maps, sort", "strings."},
	{"strings, strconv, bytes, slices, maps, sort", "strconv."},
	{"strings, strconv, bytes, slices, maps, sort", "bytes."},
	{"strings, strconv, bytes, slices, maps, sort", "slices."},
	{"strings, strconv, bytes, slices, maps, sort", "sort."},
	{"strings, strconv, bytes, slices, maps, sort", "internal/runtime/maps"},
	{"strings, strconv, bytes, slices, maps, sort", "runtime.map"},
	{"math/big (hash-key arithmetic)", "math/big."},
	{"time", "time."},
	{"sync", "sync."},
	{"sync", "internal/sync."},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.asyncPreempt"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.select"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.chan"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.futex"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.schedule"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.findRunnable"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.netpoll"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.lock"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.unlock"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.(*timer"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.nanotime"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.usleep"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.park"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.ready"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.goready"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.runqgrab"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.stealWork"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.casgstatus"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.mcall"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.gopark"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.epoll"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.sem"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.notesleep"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.procyield"},
	{"Go runtime: scheduler, channels, timers, preemption", "runtime.osyield"},
	{"Go runtime: GC and allocation", "runtime."}, // the rest of the runtime is mostly the collector and the allocator
	{"Go runtime: GC and allocation", "internal/runtime/gc"},
}

// entryPoints are the calls whose cumulative time says which job the CPU
// went to. The SDK's middleware stacks are deep enough that the profiler
// truncates some stacks above (*Client).GetRecords, so the jobs are named
// by the (de)serializers, which sit below the cut.
var entryPoints = []struct {
	name, match string
	flat        bool
}{
	{"reading: decode GetRecords replies (JSON, base64 of every record)", "service/kinesis.(*GetRecordsOutput).Deserialize", false},
	{"writing: encode PutRecords requests (JSON, base64 of every record)", "service/kinesis.(*PutRecordsInput).Serialize", false},
	{"writing: decode PutRecords replies", "service/kinesis.(*PutRecordsOutput).Deserialize", false},
	// repartd's fast codec (kinesisio/codec.go) replaces the three above
	// unless --sdk-codec is set.
	{"reading: decode GetRecords replies (fast codec: one JSON scan, base64 into one arena)", "kinesisio.decodeGetRecords", false},
	{"writing: encode PutRecords requests (fast codec: one buffer, base64 appended)", "kinesisio.appendPutRecords", false},
	{"writing: decode PutRecords replies (fast codec)", "kinesisio.decodePutRecordsOutput", false},
	{"signing: SHA-256 of every request body (SigV4 payload hash)", "sha256.block", true},
	{"routing: repartition.(*Router).Route (scan DMS JSON, key, hash)", "repartition.(*Router).Route", false},
	{"relay loop: kinesisio.(*loop).run (ordering, batching, watermarks)", "kinesisio.(*loop).run", false},
	{"garbage collector (background mark workers)", "runtime.gcBgMarkWorker", false},
}

// EntryProfile picks the entry points out of the flat and cumulative
// profiles.
func EntryProfile(flat, cum []ProfileEntry) []ProfileEntry {
	var out []ProfileEntry
	for _, ep := range entryPoints {
		list := cum
		if ep.flat {
			list = flat
		}
		var sum ProfileEntry
		for _, e := range list {
			name := strings.TrimSuffix(e.Name, " (inline)")
			if (ep.flat && strings.Contains(name, ep.match)) || (!ep.flat && strings.HasSuffix(name, ep.match)) {
				sum.Seconds += e.Seconds
				sum.Percent += e.Percent
				if !ep.flat {
					break
				}
			}
		}
		if sum.Seconds > 0 {
			out = append(out, ProfileEntry{Name: ep.name, Seconds: sum.Seconds, Percent: sum.Percent})
		}
	}
	return out
}

// GroupProfile sums flat time by area, largest first.
func GroupProfile(flat []ProfileEntry) []ProfileEntry {
	sum := map[string]*ProfileEntry{}
	var order []string
	for _, e := range flat {
		g := "other"
		for _, pg := range profileGroups {
			// A pattern with a slash is a module or package path, found
			// anywhere; one without must start the name ("time." is not
			// "runtime.").
			if (strings.Contains(pg.match, "/") && strings.Contains(e.Name, pg.match)) || strings.HasPrefix(e.Name, pg.match) {
				g = pg.name
				break
			}
		}
		if sum[g] == nil {
			sum[g] = &ProfileEntry{Name: g}
			order = append(order, g)
		}
		sum[g].Seconds += e.Seconds
		sum[g].Percent += e.Percent
	}
	out := make([]ProfileEntry, 0, len(order))
	for _, g := range order {
		out = append(out, *sum[g])
	}
	slices.SortFunc(out, func(a, b ProfileEntry) int {
		switch {
		case a.Seconds > b.Seconds:
			return -1
		case a.Seconds < b.Seconds:
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}
