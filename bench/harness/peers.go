package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Benthos pin: the published module, built with the one flag Go 1.23+
// needs for it. Nothing else of its code is fetched.
const (
	BenthosModule  = "github.com/benthosdev/benthos/v4"
	BenthosVersion = "v4.27.0"
)

// DefaultBenthosPath is the cached binary, outside the repository.
func DefaultBenthosPath() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "repartd-bench", "benthos", "benthos-"+BenthosVersion)
}

// BenthosBuildCommand is how the binary is built, for the report.
const BenthosBuildCommand = "go mod download " + BenthosModule + "@" + BenthosVersion + " && (cd $(go env GOMODCACHE)/" + BenthosModule + "@" + BenthosVersion +
	" && GOFLAGS=-mod=mod go build -trimpath -ldflags=-checklinkname=0 -o ~/.cache/repartd-bench/benthos/benthos-" + BenthosVersion + " ./cmd/benthos)"

// EnsureBenthos builds Benthos into path unless it is already there. The
// first build downloads the module graph (~1 GB) and takes minutes.
func EnsureBenthos(ctx context.Context, path string, logf func(string, ...any)) error {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return nil
	}
	logf("building Benthos %s into %s (first time: several minutes, ~1 GB of modules)", BenthosVersion, path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	dl := exec.CommandContext(ctx, "go", "mod", "download", "-json", BenthosModule+"@"+BenthosVersion)
	dl.Dir = filepath.Dir(path) // outside any module
	dl.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := dl.Output()
	if err != nil {
		return fmt.Errorf("go mod download %s@%s: %w", BenthosModule, BenthosVersion, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return fmt.Errorf("go mod download: no module directory in %q", out)
	}
	tmp := path + ".tmp"
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-checklinkname=0", "-o", tmp, "./cmd/benthos")
	build.Dir = info.Dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build benthos: %w: %s", err, lastLines(string(b), 10))
	}
	return os.Rename(tmp, path)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Router is a kinesis-faultproxy process: StreamName fixer, DynamoDB
// router and, when asked, fault injector.
type Router struct {
	URL  string
	proc *Proc
	out  bytes.Buffer
}

// RouterSpec configures a Router.
type RouterSpec struct {
	Name     string
	Upstream string
	Dynamo   string
	Stream   string  // faults apply to this stream only
	FailRate float64 // PutRecords entries failed
	FailCode string  // "" mixes throttling and InternalFailure, as AWS does
	Seed     uint64
}

func (s RouterSpec) args(listen string) []string {
	a := []string{"--listen", listen, "--upstream", s.Upstream, "--seed", strconv.FormatUint(max(s.Seed, 1), 10)}
	if s.Dynamo != "" {
		a = append(a, "--dynamo-upstream", s.Dynamo)
	}
	if s.FailRate > 0 {
		a = append(a, "--stream", s.Stream, "--put-fail-rate", strconv.FormatFloat(s.FailRate, 'g', -1, 64))
		if s.FailCode != "" {
			a = append(a, "--put-fail-code", s.FailCode)
		}
	}
	return a
}

// Display is the router's command line with generic names.
func (s RouterSpec) Display() string {
	s.Upstream, s.Stream = "DEST_EMULATOR", "DST"
	if s.Dynamo != "" {
		s.Dynamo = "DYNALITE"
	}
	return "kinesis-faultproxy " + strings.Join(s.args("127.0.0.1:PORT"), " ")
}

// StartRouter starts a router and waits until it accepts connections.
func (e *Env) StartRouter(ctx context.Context, s RouterSpec) (*Router, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	r := &Router{URL: "http://" + listen}
	p, err := StartProc(e.FaultProxy, s.args(listen), ProcOptions{LogPath: filepath.Join(e.Cfg.Work, "logs", s.Name+".log"), Stdout: &r.out})
	if err != nil {
		return nil, err
	}
	r.proc = p
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", listen, 200*time.Millisecond); err == nil {
			c.Close()
			return r, nil
		}
		select {
		case <-p.Done():
			return nil, fmt.Errorf("router %s exited (code %d)", s.Name, p.Usage().ExitCode)
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.Kill()
	return nil, fmt.Errorf("router %s: not listening after 10 s", s.Name)
}

// RouterStats is the part of the router's final stats the harness reads.
type RouterStats struct {
	Ops map[string]struct {
		Requests      int64            `json:"requests"`
		Entries       int64            `json:"entries"`
		EntriesFailed map[string]int64 `json:"entries_failed"`
	} `json:"ops"`
}

// Stop ends the router and returns its stats (printed on exit).
func (r *Router) Stop() RouterStats {
	r.proc.Stop(10 * time.Second)
	var st RouterStats
	b := r.out.Bytes()
	if i := bytes.IndexByte(b, '{'); i >= 0 {
		_ = json.Unmarshal(b[i:], &st)
	}
	return st
}

// FailedEntries is how many PutRecords entries the router failed.
func (s RouterStats) FailedEntries() int64 {
	var n int64
	for _, v := range s.Ops["PutRecords"].EntriesFailed {
		n += v
	}
	return n
}

// peerRun is one tool relaying one source into a fresh destination.
type peerRun struct {
	tool        string
	maxInFlight int
	inputBatch  int
	fault       RouterSpec // FailRate 0: no faults
	source      string
	records     int
	bound       time.Duration
	verify      bool
}

type peerOutcome struct {
	usage      Usage
	timedOut   bool
	arrivals   []Arrival
	arrivalPS  float64
	seconds    float64
	verify     VerifyReport
	verifyCmd  string
	command    string
	injected   int64
	routerCmd  string
	otherCores float64 // CPU the rest of the machine used meanwhile
	// cpuRelaying is the tool's CPU between the first and the last
	// destination arrival: the relaying itself, without start-up or the
	// idle wait before exit.
	cpuRelaying float64
}

// peers holds what every peer run shares.
type peers struct {
	e         *Env
	lt        *LocalTarget
	benthos   string
	tmpl      *template.Template
	dynamo    *Emulator
	srcRouter *Router
	n         int
}

// RunPeers is `make bench-peers`.
func (e *Env) RunPeers(ctx context.Context) (*PeersResult, error) {
	sz := e.Cfg.Sizes
	lt, ok := e.Target.(*LocalTarget)
	if !ok {
		return nil, errors.New("bench-peers needs the local emulators")
	}
	if err := EnsureBenthos(ctx, e.Cfg.Benthos, e.Logf); err != nil {
		return nil, err
	}
	tmplText, err := os.ReadFile(filepath.Join(e.Cfg.Repo, "bench", "peers", "benthos.yaml"))
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("benthos").Option("missingkey=error").Parse(string(tmplText))
	if err != nil {
		return nil, fmt.Errorf("bench/peers/benthos.yaml: %w", err)
	}
	dyn, err := e.Emu.Start(ctx, "bench-dynamo", "dynalite")
	if err != nil {
		return nil, err
	}
	defer e.Emu.Stop(context.WithoutCancel(ctx), dyn)
	pr := &peers{e: e, lt: lt, benthos: e.Cfg.Benthos, tmpl: tmpl, dynamo: dyn}

	res := &PeersResult{BenthosVersion: BenthosVersion, BenthosBuild: BenthosBuildCommand, SourceShards: 1, DestShards: 16, Records: sz.PeerRecords}
	if err := e.freshPair(ctx); err != nil {
		return nil, err
	}
	src := e.StreamName("peer-src")
	if err := e.Create(ctx, false, src, 1); err != nil {
		return nil, err
	}
	if _, err := e.Load(ctx, LoadSpec{Stream: src, Records: sz.PeerRecords}); err != nil {
		return nil, err
	}
	faultSrc := e.StreamName("fault-src")
	if err := e.Create(ctx, false, faultSrc, 1); err != nil {
		return nil, err
	}
	if _, err := e.Load(ctx, LoadSpec{Stream: faultSrc, Records: sz.FaultRecords, Seed: 7}); err != nil {
		return nil, err
	}
	pr.srcRouter, err = e.StartRouter(ctx, RouterSpec{Name: "router-src", Upstream: lt.Src.URL(), Dynamo: dyn.URL()})
	if err != nil {
		return nil, err
	}
	defer pr.srcRouter.Stop()

	// 1. tune Benthos: max_in_flight × input batching (one run each); the
	// fastest setting is used for every measured run.
	best := BenthosSetting{MaxInFlight: 64}
	if len(sz.PeerTune) > 0 {
		bestRate := 0.0
		for _, bs := range sz.PeerTune {
			o, err := pr.run(ctx, peerRun{tool: "benthos", maxInFlight: bs.MaxInFlight, inputBatch: bs.InputBatch, source: src, records: sz.PeerRecords, bound: sz.PeerBound})
			if err != nil {
				return res, fmt.Errorf("benthos tuning %s: %w", bs, err)
			}
			cpu := PerMillion(o.cpuRelaying, int64(len(o.arrivals)))
			e.Logf("benthos %s: %.0f records/s, %.0f CPU-s/1M while relaying (%d delivered, timed out %v, other work %.2f cores)", bs, o.arrivalPS, cpu, len(o.arrivals), o.timedOut, o.otherCores)
			res.Tuning = append(res.Tuning, TunePoint{Setting: bs.MaxInFlight, Label: bs.String(), RecordsPerS: Num(o.arrivalPS), CPUSecPer1M: Num(cpu)})
			if o.arrivalPS > bestRate {
				best, bestRate = bs, o.arrivalPS
			}
		}
	}
	res.MaxInFlight, res.InputBatch = best.MaxInFlight, best.InputBatch
	var cfgText bytes.Buffer
	_ = tmpl.Execute(&cfgText, benthosVars{HTTPPort: 0, Source: "SRC", Table: "TABLE", SourceURL: "http://127.0.0.1:SRC_ROUTER", Dest: "DST",
		DestURL: "http://127.0.0.1:DST_ROUTER", MaxInFlight: best.MaxInFlight, InputBatch: best.InputBatch})
	res.Config = strings.ReplaceAll(cfgText.String(), "127.0.0.1:0\n", "127.0.0.1:PORT\n")

	// 2. side by side, each repetition runs both tools
	tools := []string{"repartd", "benthos"}
	type acc struct {
		rates, cpus, rss []float64
		delivered        []int
		timedOut         []bool
		viol, lastViol   []int
		other, relaying  []float64
		cmd              string
	}
	accs := map[string]*acc{"repartd": {}, "benthos": {}}
	for rep := range e.Cfg.Reps {
		for _, tool := range tools {
			o, err := pr.run(ctx, peerRun{tool: tool, maxInFlight: best.MaxInFlight, inputBatch: best.InputBatch, source: src, records: sz.PeerRecords, bound: sz.PeerBound, verify: true})
			if err != nil {
				return res, fmt.Errorf("%s rep %d: %w", tool, rep+1, err)
			}
			a := accs[tool]
			a.viol, a.lastViol = append(a.viol, o.verify.OrderViolations), append(a.lastViol, o.verify.LastOrderViolations)
			a.other = append(a.other, o.otherCores)
			a.relaying = append(a.relaying, PerMillion(o.cpuRelaying, int64(len(o.arrivals))))
			a.rates = append(a.rates, o.arrivalPS)
			a.cpus = append(a.cpus, PerMillion(o.usage.CPUSeconds, int64(sz.PeerRecords)))
			a.rss = append(a.rss, float64(o.usage.MaxRSSKiB)/1024)
			a.delivered = append(a.delivered, len(o.arrivals))
			a.timedOut = append(a.timedOut, o.timedOut)
			a.cmd = o.command
			e.Logf("peers rep %d %s: %.0f records/s, %.1f CPU-s/1M (%.1f while relaying), RSS %.0f MiB, %d delivered (timed out %v), %d/%d order violations (first/last), other work %.2f cores",
				rep+1, tool, o.arrivalPS, a.cpus[len(a.cpus)-1], a.relaying[len(a.relaying)-1], a.rss[len(a.rss)-1], len(o.arrivals), o.timedOut,
				o.verify.OrderViolations, o.verify.LastOrderViolations, o.otherCores)
		}
	}
	for _, tool := range tools {
		a := accs[tool]
		res.Tools = append(res.Tools, ToolResult{Tool: tool, Command: a.cmd, ArrivalPerS: Summarize(a.rates), CPUSecPer1M: Summarize(a.cpus),
			PeakRSSMiB: Summarize(a.rss), Delivered: a.delivered, TimedOut: a.timedOut, OrderViolations: a.viol, LastOrderViolations: a.lastViol,
			OtherCores: Summarize(a.other), CPUSecPer1MRelaying: Summarize(a.relaying)})
	}

	// 3. order under 30% failed entries
	faults := []struct {
		name string
		code string
	}{
		{"30% of entries throttled", "ProvisionedThroughputExceededException"},
		{"30% of entries failed (throttled or InternalFailure, mixed)", ""},
	}
	for _, f := range faults {
		for _, tool := range tools {
			spec := RouterSpec{FailRate: 0.3, FailCode: f.code, Seed: 42}
			o, err := pr.run(ctx, peerRun{tool: tool, maxInFlight: best.MaxInFlight, inputBatch: best.InputBatch, fault: spec, source: faultSrc, records: sz.FaultRecords, bound: sz.FaultBound, verify: true})
			if err != nil {
				return res, fmt.Errorf("%s under %s: %w", tool, f.name, err)
			}
			fr := FaultResult{Tool: tool, Fault: f.name, Command: o.command + "  (destination via: " + o.routerCmd + ")", VerifyCommand: o.verifyCmd,
				Seconds: o.seconds, TimedOut: o.timedOut, SourceRecords: o.verify.SourceRecords, DestRecords: o.verify.DestRecords,
				Missing: o.verify.Missing, Duplicates: o.verify.Duplicates, OrderViolations: o.verify.OrderViolations,
				LastOrderViolations: o.verify.LastOrderViolations, InjectedFailures: o.injected}
			e.Logf("faults %q %s: %d/%d delivered, %d missing, %d duplicates, %d order violations (%d last), timed out %v", f.name, tool,
				o.verify.DestRecords, o.verify.SourceRecords, o.verify.Missing, o.verify.Duplicates, o.verify.OrderViolations, o.verify.LastOrderViolations, o.timedOut)
			res.Faults = append(res.Faults, fr)
		}
	}
	res.Notes = append(res.Notes,
		"Benthos output `aws_kinesis` resends only the throttled entries of a call, after the entries behind them landed; any other entry error fails the whole batch, "+
			"which the input then replays (landed entries included). Both reorder a row whose changes sit in two batches in flight.",
		"repartd runs with its defaults (strict ordering, 8 calls in flight, destination pacing at 1,000 records/s per shard).",
		"Benthos's own partition key differs from repartd's contract-v1 key, so its rows land on other shards; order is judged per row either way.")
	return res, nil
}

// BenthosSetting is one point of the Benthos tuning grid.
type BenthosSetting struct {
	MaxInFlight int // output.aws_kinesis.max_in_flight
	InputBatch  int // input.aws_kinesis.batching.count; 0: none
}

func (b BenthosSetting) String() string {
	if b.InputBatch == 0 {
		return fmt.Sprintf("max_in_flight %d, no input batching", b.MaxInFlight)
	}
	return fmt.Sprintf("max_in_flight %d, input batches of %d", b.MaxInFlight, b.InputBatch)
}

type benthosVars struct {
	InputBatch  int // 0: no input batching
	HTTPPort    int
	Source      string
	Table       string
	SourceURL   string
	Dest        string
	DestURL     string
	MaxInFlight int
}

// run relays r.source into a fresh 16-shard destination with one tool.
func (p *peers) run(ctx context.Context, r peerRun) (peerOutcome, error) {
	e := p.e
	var o peerOutcome
	if err := e.Target.FreshDest(ctx); err != nil {
		return o, err
	}
	dst := e.StreamName("peer-dst")
	if err := e.Create(ctx, true, dst, 16); err != nil {
		return o, err
	}
	fault := r.fault
	fault.Name, fault.Upstream, fault.Stream = fmt.Sprintf("router-dst-%s", dst), p.lt.Dst.URL(), dst
	o.routerCmd = fault.Display()
	dstRouter, err := e.StartRouter(ctx, fault)
	if err != nil {
		return o, err
	}
	var sampler *CPUSampler
	start, machine0, self0 := time.Now(), MachineCPU(), selfCPU()
	srcEmu, dstEmu, srcRouter := StartCPUMeter(p.lt.Src.PID), StartCPUMeter(p.lt.Dst.PID), StartCPUMeter(p.srcRouter.proc.PID())
	switch r.tool {
	case "repartd":
		spec := RelaySpec{Name: "peer-" + dst, Source: r.source, Dest: dst, StopWhenIdle: 2 * time.Second,
			SourceURL: p.srcRouter.URL, DestURL: dstRouter.URL}
		o.command = spec.Display() + " --source-endpoint-url SRC_ROUTER --dest-endpoint-url DST_ROUTER"
		rl, err := e.StartRelay(ctx, spec)
		if err != nil {
			dstRouter.Stop()
			return o, err
		}
		sampler = StartCPUSampler(rl.proc.PID(), 100*time.Millisecond)
		ro := rl.Finish(ctx, r.bound)
		o.usage, o.timedOut = ro.Usage, ro.TimedOut
	case "benthos":
		o.command = "benthos -c bench/peers/benthos.yaml (" + BenthosSetting{r.maxInFlight, r.inputBatch}.String() + ")"
		o.usage, o.timedOut, sampler, err = p.runBenthos(ctx, r, dst, dstRouter.URL)
		if err != nil {
			dstRouter.Stop()
			return o, err
		}
	}
	o.seconds = time.Since(start).Seconds()
	// Other work: the machine's CPU minus the tool, the emulators, the
	// harness and the routers (their processes are ours too).
	routers := srcRouter.Seconds()
	if c, err := ProcCPU(dstRouter.proc.PID()); err == nil {
		routers += c // started for this run
	}
	ours := o.usage.CPUSeconds + srcEmu.Seconds() + dstEmu.Seconds() + (selfCPU() - self0) + routers
	o.otherCores = max(0, MachineCPU()-machine0-ours) / o.seconds
	st := dstRouter.Stop()
	o.injected = st.FailedEntries()
	if o.arrivals, _, err = ReadArrivals(ctx, e.Dst, dst, nil); err != nil {
		return o, err
	}
	_, o.arrivalPS = ArrivalSpan(o.arrivals)
	if sampler != nil {
		sampler.Stop()
		if first, last, ok := arrivalWindow(o.arrivals); ok {
			o.cpuRelaying = sampler.Between(first, last)
		}
	}
	if r.verify {
		// Judge each row (schema, table, id): Benthos's key fields.
		if o.verify, o.verifyCmd, err = e.Verify(ctx, r.source, dst, "", "", "--key", "*.*=id", "--order", "both"); err != nil {
			return o, err
		}
	}
	e.Drop(ctx, true, dst)
	return o, nil
}

func (p *peers) runBenthos(ctx context.Context, r peerRun, dst, dstURL string) (Usage, bool, *CPUSampler, error) {
	e := p.e
	port, err := FreePort()
	if err != nil {
		return Usage{}, false, nil, err
	}
	var cfg bytes.Buffer
	table := strings.ReplaceAll(dst, "-", "_") + "_ckpt"
	if err := p.tmpl.Execute(&cfg, benthosVars{HTTPPort: port, Source: r.source, Table: table, SourceURL: p.srcRouter.URL,
		Dest: dst, DestURL: dstURL, MaxInFlight: r.maxInFlight, InputBatch: r.inputBatch}); err != nil {
		return Usage{}, false, nil, err
	}
	path := filepath.Join(e.Cfg.Work, "benthos-"+dst+".yaml")
	if err := os.WriteFile(path, cfg.Bytes(), 0o644); err != nil {
		return Usage{}, false, nil, err
	}
	stdout, err := os.Create(filepath.Join(e.Cfg.Work, "logs", "benthos-"+dst+".stdout.log"))
	if err != nil {
		return Usage{}, false, nil, err
	}
	defer stdout.Close()
	proc, err := StartProc(p.benthos, []string{"-c", path}, ProcOptions{LogPath: filepath.Join(e.Cfg.Work, "logs", "benthos-"+dst+".log"),
		Stdout: stdout})
	if err != nil {
		return Usage{}, false, nil, err
	}
	sampler := StartCPUSampler(proc.PID(), 100*time.Millisecond)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	deadline := time.Now().Add(r.bound)
	timedOut := true
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-proc.Done():
			return proc.Usage(), false, sampler, fmt.Errorf("benthos exited early (code %d); log: %s", proc.Usage().ExitCode, "benthos-"+dst+".log")
		case <-ctx.Done():
			proc.Kill()
			return proc.Usage(), false, sampler, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		// With input batching the last partial batch never leaves the input
		// (see benthos.yaml), so the run is complete one batch short.
		if sent := outputSent(client, metrics); sent >= int64(r.records-r.inputBatch) {
			timedOut = false
			break
		}
	}
	return proc.Stop(15 * time.Second), timedOut, sampler, nil
}

// outputSent reads Benthos's output_sent counter (Prometheus text), or -1.
func outputSent(c *http.Client, url string) int64 {
	resp, err := c.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var total int64 = -1
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "output_sent") {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			total = max(total, 0) + int64(v)
		}
	}
	return total
}

// arrivalWindow is the first and last arrival time.
func arrivalWindow(as []Arrival) (first, last time.Time, ok bool) {
	for i, a := range as {
		if i == 0 || a.Arrived.Before(first) {
			first = a.Arrived
		}
		if i == 0 || a.Arrived.After(last) {
			last = a.Arrived
		}
	}
	return first, last, len(as) > 1
}
