package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Env is what every workload needs: binaries, the target, clients, a
// scratch directory and a log.
type Env struct {
	Cfg        Config
	Repartd    string // binary built from the work tree
	FaultProxy string
	Target     Target
	Emu        *Emulators
	Src, Dst   *kinesis.Client
	Logf       func(format string, a ...any)
	runID      string
	seq        int
	mu         sync.Mutex
	created    []createdStream // streams to delete on an existing endpoint
}

type createdStream struct {
	client *kinesis.Client
	name   string
}

// NewRunID names this run's streams uniquely (existing endpoints may hold
// other users' streams).
func NewRunID() string {
	return fmt.Sprintf("rb%s%03d", time.Now().UTC().Format("0102150405"), rand.IntN(1000))
}

// StreamName returns a fresh stream name with a role suffix.
func (e *Env) StreamName(role string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.runID == "" {
		e.runID = NewRunID()
	}
	e.seq++
	return fmt.Sprintf("%s-%03d-%s", e.runID, e.seq, role)
}

// Create makes a stream with n shards on the source or destination side.
func (e *Env) Create(ctx context.Context, dest bool, name string, n int) error {
	c := e.Src
	if dest {
		c = e.Dst
	}
	if err := CreateStream(ctx, c, name, n); err != nil {
		return err
	}
	e.mu.Lock()
	e.created = append(e.created, createdStream{c, name})
	e.mu.Unlock()
	return nil
}

// Drop deletes one stream now and forgets it.
func (e *Env) Drop(ctx context.Context, dest bool, name string) {
	c := e.Src
	if dest {
		c = e.Dst
	}
	e.mu.Lock()
	e.created = slices.DeleteFunc(e.created, func(s createdStream) bool { return s.name == name })
	e.mu.Unlock()
	if err := DeleteStream(context.WithoutCancel(ctx), c, name); err != nil {
		e.Logf("cleanup: %v", err)
	}
}

// DeleteAll deletes every stream this run created that still exists.
func (e *Env) DeleteAll(ctx context.Context) {
	e.mu.Lock()
	created := e.created
	e.created = nil
	e.mu.Unlock()
	for _, s := range created {
		if err := DeleteStream(ctx, s.client, s.name); err != nil {
			e.Logf("cleanup: %v", err)
		}
	}
}

// Forget drops streams from the delete list (their emulator was restarted).
func (e *Env) Forget() {
	e.mu.Lock()
	e.created = nil
	e.mu.Unlock()
}

// Dir returns a fresh scratch directory under Work.
func (e *Env) Dir(name string) string {
	d := filepath.Join(e.Cfg.Work, name)
	_ = os.RemoveAll(d)
	_ = os.MkdirAll(d, 0o755)
	return d
}

// endpointFlags point one repartd command at the target.
func (e *Env) endpointFlags(srcFlag, dstFlag string) []string {
	var f []string
	if u := e.Target.SourceURL(); u != "" && srcFlag != "" {
		f = append(f, srcFlag, u)
	}
	if u := e.Target.DestURL(); u != "" && dstFlag != "" {
		f = append(f, dstFlag, u)
	}
	return f
}

// LoadSpec is one `repartd load`.
type LoadSpec struct {
	Stream       string
	Records      int
	Rate         int
	Rows, Tables int
	Zipf         float64
	HotShare     float64 // used when > 0 or HotShareSet
	HotShareSet  bool
	Seed         uint64
	Schema       string
	PartitionKey string
	Dest         bool // the stream lives on the destination endpoint
}

func (l LoadSpec) args() []string {
	a := []string{"load", "--stream", l.Stream, "--records", strconv.Itoa(l.Records)}
	if l.Rate > 0 {
		a = append(a, "--rate", strconv.Itoa(l.Rate))
	}
	if l.Rows > 0 {
		a = append(a, "--rows", strconv.Itoa(l.Rows))
	}
	if l.Tables > 0 {
		a = append(a, "--tables", strconv.Itoa(l.Tables))
	}
	if l.Zipf > 0 {
		a = append(a, "--zipf", strconv.FormatFloat(l.Zipf, 'g', -1, 64))
	}
	if l.HotShareSet {
		a = append(a, "--hot-share", strconv.FormatFloat(l.HotShare, 'g', -1, 64))
	}
	if l.Seed > 0 {
		a = append(a, "--seed", strconv.FormatUint(l.Seed, 10))
	}
	if l.Schema != "" {
		a = append(a, "--schema", l.Schema)
	}
	if l.PartitionKey != "" {
		a = append(a, "--partition-key", l.PartitionKey)
	}
	return a
}

// Display is the command as a user would type it (stream names generic).
func (l LoadSpec) Display() string {
	l.Stream = "SRC"
	if l.PartitionKey != "" {
		l.PartitionKey = "PK"
	}
	if l.Schema != "" {
		l.Schema = "SCHEMA"
	}
	return "repartd " + strings.Join(l.args(), " ")
}

// LoadResult is `repartd load`'s JSON line.
type LoadResult struct {
	Records     int     `json:"records"`
	ElapsedS    float64 `json:"elapsed_s"`
	RecordsPerS float64 `json:"records_per_s"`
	HottestRow  float64 `json:"hottest_row_share"`
	CPUSeconds  float64 `json:"-"` // the loader process's CPU
}

// Load runs `repartd load` to completion.
func (e *Env) Load(ctx context.Context, l LoadSpec) (LoadResult, error) {
	args := l.args()
	u := e.Target.SourceURL()
	if l.Dest {
		u = e.Target.DestURL()
	}
	if u != "" {
		args = append(args, "--endpoint-url", u)
	}
	out, usage, err := RunProc(ctx, e.Repartd, args, ProcOptions{})
	var r LoadResult
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("load output %q: %w", out, err)
	}
	r.CPUSeconds = usage.CPUSeconds
	return r, nil
}

// LogLine is one JSON line of `repartd run`: lag_summary and "relay
// stopped" fields (README "Lag lines").
type LogLine struct {
	Time               time.Time `json:"time"`
	Level              string    `json:"level"`
	Message            string    `json:"message"`
	Error              string    `json:"error"`
	TotalRecordsIn     int64     `json:"total_records_in"`
	TotalRecordsOut    int64     `json:"total_records_out"`
	BufferedRecords    int64     `json:"buffered_records"`
	InFlightCalls      int64     `json:"in_flight_calls"`
	PutP50Ms           float64   `json:"put_p50_ms"`
	PutP99Ms           float64   `json:"put_p99_ms"`
	RecordsIn          int64     `json:"records_in"`
	RecordsOut         int64     `json:"records_out"`
	BytesOut           int64     `json:"bytes_out"`
	Retries            int64     `json:"retries"`
	ElapsedS           float64   `json:"elapsed_s"`
	BusyS              float64   `json:"busy_s"`
	RecordsOutPerBusyS float64   `json:"records_out_per_busy_s"`
}

// RelaySpec is one `repartd run`.
type RelaySpec struct {
	Name         string // log file stem
	Source, Dest string
	Ordering     string
	Extra        []string
	StopWhenIdle time.Duration // 0: the harness stops it
	Bound        time.Duration // stop at once after this long
	// SourceURL/DestURL override the target's endpoints (routers).
	SourceURL, DestURL string
}

func (s RelaySpec) args(checkpoint string) []string {
	a := []string{"run", "--source", s.Source, "--dest", s.Dest, "--checkpoint", checkpoint, "--log-interval", "1s"}
	if s.Ordering != "" {
		a = append(a, "--ordering", s.Ordering)
	}
	if s.StopWhenIdle > 0 {
		a = append(a, "--stop-when-idle", s.StopWhenIdle.String())
	}
	return append(a, s.Extra...)
}

// Display is the command with generic names.
func (s RelaySpec) Display() string {
	s.Source, s.Dest = "SRC", "DST"
	return "repartd " + strings.Join(s.args("CP"), " ")
}

// Relay is a running `repartd run`.
type Relay struct {
	proc    *Proc
	mu      sync.Mutex
	lines   []LogLine
	stopped *LogLine
	started chan struct{}
	once    sync.Once
	srcCPU  *CPUMeter
	dstCPU  *CPUMeter
	t0      time.Time
	// emulator CPU read when the harness stopped the relay, before any
	// cleanup could add to it
	srcFinal, dstFinal *float64
	machine0, self0    float64
}

// StartRelay starts `repartd run`.
func (e *Env) StartRelay(ctx context.Context, s RelaySpec) (*Relay, error) {
	cp := e.Dir("cp-" + s.Name)
	args := s.args(cp)
	su, du := s.SourceURL, s.DestURL
	if su == "" {
		su = e.Target.SourceURL()
	}
	if du == "" {
		du = e.Target.DestURL()
	}
	if su != "" {
		args = append(args, "--source-endpoint-url", su)
	}
	if du != "" {
		args = append(args, "--dest-endpoint-url", du)
	}
	r := &Relay{started: make(chan struct{}), t0: time.Now(), machine0: MachineCPU(), self0: selfCPU()}
	r.srcCPU, r.dstCPU = StartCPUMeter(e.Target.SourcePID()), StartCPUMeter(e.Target.DestPID())
	p, err := StartProc(e.Repartd, args, ProcOptions{
		LogPath: filepath.Join(e.Cfg.Work, "logs", s.Name+".log"),
		OnLine: func(b []byte) {
			var l LogLine
			if json.Unmarshal(b, &l) != nil {
				return
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			switch l.Message {
			case "lag_summary":
				r.lines = append(r.lines, l)
				r.once.Do(func() { close(r.started) })
			case "relay stopped":
				r.stopped = &l
			case "relay starting":
			}
		},
	})
	if err != nil {
		return nil, err
	}
	r.proc = p
	return r, nil
}

// WaitStarted waits for the first lag line (the relay is reading).
func (r *Relay) WaitStarted(ctx context.Context, timeout time.Duration) error {
	select {
	case <-r.started:
		return nil
	case <-r.proc.Done():
		return fmt.Errorf("repartd run exited (code %d) before its first lag line", r.proc.Usage().ExitCode)
	case <-time.After(timeout):
		return fmt.Errorf("repartd run: no lag line within %s", timeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Latest is the last lag_summary line.
func (r *Relay) Latest() (LogLine, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == 0 {
		return LogLine{}, false
	}
	return r.lines[len(r.lines)-1], true
}

// WaitUntil polls the lag lines until cond holds, the relay exits, or
// timeout.
func (r *Relay) WaitUntil(ctx context.Context, timeout time.Duration, cond func(LogLine) bool) bool {
	deadline := time.After(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if l, ok := r.Latest(); ok && cond(l) {
			return true
		}
		select {
		case <-tick.C:
		case <-r.proc.Done():
			return false
		case <-deadline:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// RelayOutcome is a finished relay run.
type RelayOutcome struct {
	Usage     Usage
	Stopped   *LogLine
	Summaries []LogLine
	TimedOut  bool // the harness stopped it at its bound
	SrcEmuCPU float64
	DstEmuCPU float64
	// OtherCores is the machine's CPU used by anything but the relay, the
	// two emulators and the harness, per second of the run: other work.
	OtherCores float64
}

// Finish waits for the relay to stop by itself until bound, else stops it
// at once (two SIGTERMs: the second skips the drain).
func (r *Relay) Finish(ctx context.Context, bound time.Duration) RelayOutcome {
	timedOut := false
	remaining := bound - time.Since(r.t0)
	select {
	case <-r.proc.Done():
	case <-time.After(max(remaining, 0)):
		timedOut = true
		r.StopNow()
	case <-ctx.Done():
		r.StopNow()
	}
	return r.outcome(timedOut)
}

// Drain sends one SIGTERM (drain) and waits up to grace, then stops at once.
func (r *Relay) Drain(grace time.Duration) RelayOutcome {
	r.proc.Signal(syscall.SIGTERM)
	select {
	case <-r.proc.Done():
		return r.outcome(false)
	case <-time.After(grace):
	}
	r.StopNow()
	return r.outcome(true)
}

// StopNow stops the relay without draining.
func (r *Relay) StopNow() {
	srcCPU, dstCPU := r.srcCPU.Seconds(), r.dstCPU.Seconds()
	r.proc.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	r.proc.Signal(syscall.SIGTERM)
	select {
	case <-r.proc.Done():
	case <-time.After(15 * time.Second):
		r.proc.Kill()
		<-r.proc.Done()
	}
	r.mu.Lock()
	r.srcFinal, r.dstFinal = &srcCPU, &dstCPU
	r.mu.Unlock()
}

func (r *Relay) outcome(timedOut bool) RelayOutcome {
	<-r.proc.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	o := RelayOutcome{Usage: r.proc.Usage(), Stopped: r.stopped, Summaries: append([]LogLine(nil), r.lines...), TimedOut: timedOut}
	if r.srcFinal != nil {
		o.SrcEmuCPU, o.DstEmuCPU = *r.srcFinal, *r.dstFinal
	} else {
		o.SrcEmuCPU, o.DstEmuCPU = r.srcCPU.Seconds(), r.dstCPU.Seconds()
	}
	ours := o.Usage.CPUSeconds + (selfCPU() - r.self0)
	for _, c := range []float64{o.SrcEmuCPU, o.DstEmuCPU} {
		if finite(c) {
			ours += c
		}
	}
	o.OtherCores = max(0, MachineCPU()-r.machine0-ours) / time.Since(r.t0).Seconds()
	return o
}

// Throughput is records out per second: repartd's own figure when the run
// completed, else the rate of total_records_out across the lag lines after
// the first second of output (a time-bounded run).
func (o RelayOutcome) Throughput() float64 {
	if !o.TimedOut && o.Stopped != nil && o.Stopped.RecordsOut > 0 {
		return o.Stopped.RecordsOutPerBusyS
	}
	return WindowRate(o.Summaries)
}

// WindowRate is (last − first) total_records_out over time, from the first
// lag line with output on (skipping one more line as warm-up when there
// are enough).
func WindowRate(ls []LogLine) float64 {
	i := 0
	for i < len(ls) && ls[i].TotalRecordsOut == 0 {
		i++
	}
	if len(ls)-i > 4 {
		i++
	}
	if i >= len(ls)-1 {
		return nanValue()
	}
	a, b := ls[i], ls[len(ls)-1]
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		return nanValue()
	}
	return float64(b.TotalRecordsOut-a.TotalRecordsOut) / dt
}

// MedianPutP50 is the median of the lag lines' put p50 while writing.
func MedianPutP50(ls []LogLine) float64 {
	var v []float64
	for _, l := range ls {
		if l.PutP50Ms > 0 {
			v = append(v, l.PutP50Ms)
		}
	}
	return Summarize(v).Median
}

// RecordsOut is how many records the relay wrote.
func (o RelayOutcome) RecordsOut() int64 {
	if o.Stopped != nil {
		return o.Stopped.RecordsOut
	}
	if n := len(o.Summaries); n > 0 {
		return o.Summaries[n-1].TotalRecordsOut
	}
	return 0
}

// Busy is the relay's busy time (first read to last acknowledgement) or,
// for a bounded run, its wall time.
func (o RelayOutcome) Busy() float64 {
	if o.Stopped != nil && o.Stopped.BusyS > 0 {
		return o.Stopped.BusyS
	}
	return o.Usage.Wall.Seconds()
}

// VerifyReport is the part of `repartd verify`'s line the harness uses.
type VerifyReport struct {
	SourceRecords       int            `json:"source_records"`
	DestRecords         int            `json:"dest_records"`
	Missing             int            `json:"missing"`
	Duplicates          int            `json:"duplicates"`
	Unexpected          int            `json:"unexpected"`
	OrderViolations     int            `json:"order_violations"`
	LastOrderViolations int            `json:"last_order_violations"`
	Misrouted           int            `json:"misrouted"`
	SplitKeys           int            `json:"split_keys"`
	DestShardRecords    map[string]int `json:"dest_shard_records"`
	OK                  bool           `json:"ok"`
}

// ShardCounts are DestShardRecords in shard id order (a fresh stream's
// ids follow hash-key order).
func (v VerifyReport) ShardCounts() []int {
	ids := slices.Sorted(maps.Keys(v.DestShardRecords))
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = v.DestShardRecords[id]
	}
	return out
}

// Verify runs `repartd verify` (exit 1 means "not ok", not a failure).
func (e *Env) Verify(ctx context.Context, src, dst, srcURL, dstURL string, extra ...string) (VerifyReport, string, error) {
	args := append([]string{"verify", "--source", src, "--dest", dst}, extra...)
	display := "repartd verify --source SRC --dest DST " + strings.Join(extra, " ")
	if srcURL == "" {
		srcURL = e.Target.SourceURL()
	}
	if dstURL == "" {
		dstURL = e.Target.DestURL()
	}
	if srcURL != "" {
		args = append(args, "--source-endpoint-url", srcURL)
	}
	if dstURL != "" {
		args = append(args, "--dest-endpoint-url", dstURL)
	}
	p, err := StartProc(e.Repartd, args, ProcOptions{LogPath: filepath.Join(e.Cfg.Work, "logs", "verify-"+dst+".log")})
	if err != nil {
		return VerifyReport{}, display, err
	}
	u, err := p.Wait(ctx)
	if err != nil {
		return VerifyReport{}, display, err
	}
	var v VerifyReport
	if err := json.Unmarshal(p.Stdout(), &v); err != nil {
		return v, display, fmt.Errorf("verify (exit %d) output %q: %w", u.ExitCode, p.Stdout(), err)
	}
	return v, strings.TrimSpace(display), nil
}
