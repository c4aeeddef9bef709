package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is a child process started by the harness. Its stderr is copied to
// a log file line by line and each line is offered to OnLine; stdout is
// kept in memory. Wait returns its resource usage, so CPU and peak RSS
// come from the kernel's accounting of exactly that process.
type Proc struct {
	Name    string
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	started time.Time
	done    chan struct{}
	mu      sync.Mutex
	usage   Usage
	waitErr error
	copied  sync.WaitGroup
}

// Usage is what the kernel accounted to a finished process.
type Usage struct {
	CPUSeconds float64       // user + system
	MaxRSSKiB  int64         // peak resident set
	Wall       time.Duration // start to exit
	ExitCode   int
}

// ProcOptions start a Proc.
type ProcOptions struct {
	Env     []string          // added to the harness's environment
	Dir     string            // working directory
	LogPath string            // stderr (and stdout if StdoutToLog) copy; "" for none
	OnLine  func(line []byte) // called for every stderr line, from one goroutine
	Stdout  io.Writer         // if set, stdout goes here instead of memory
}

// StartProc starts name with args. The child dies with the harness
// (Pdeathsig), so an interrupted run leaves nothing behind.
func StartProc(name string, args []string, o ProcOptions) (*Proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Dir = o.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{})}
	if o.Stdout != nil {
		cmd.Stdout = o.Stdout
	} else {
		cmd.Stdout = &p.stdout
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	var logf *os.File
	if o.LogPath != "" {
		if logf, err = os.Create(o.LogPath); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.started = time.Now()
	p.copied.Add(1)
	go func() { // ends at the child's EOF on stderr
		defer p.copied.Done()
		if logf != nil {
			defer logf.Close()
		}
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if logf != nil {
				logf.Write(line)
				logf.Write([]byte{'\n'})
			}
			if o.OnLine != nil {
				o.OnLine(line)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	go func() { // owns cmd.Wait; closes done
		p.copied.Wait()
		err := cmd.Wait()
		u := Usage{Wall: time.Since(p.started), ExitCode: -1}
		if st := cmd.ProcessState; st != nil {
			u.ExitCode = st.ExitCode()
			u.CPUSeconds = (st.UserTime() + st.SystemTime()).Seconds()
			if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
				u.MaxRSSKiB = ru.Maxrss
			}
		}
		p.mu.Lock()
		p.usage, p.waitErr = u, err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// PID is the child's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and its output is copied.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for exit (or ctx) and returns the usage; a non-zero exit is
// not an error here: callers judge exit codes.
func (p *Proc) Wait(ctx context.Context) (Usage, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Kill()
		<-p.done
		return p.Usage(), ctx.Err()
	}
	return p.Usage(), nil
}

// Usage is valid once Done is closed.
func (p *Proc) Usage() Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usage
}

// Stdout is what the child printed (when no ProcOptions.Stdout was set);
// complete once Done is closed.
func (p *Proc) Stdout() []byte { return p.stdout.Bytes() }

// Signal sends sig to the child alone.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// Kill ends the child's process group at once.
func (p *Proc) Kill() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// Stop asks the child to end (SIGTERM), then kills it after grace.
func (p *Proc) Stop(grace time.Duration) Usage {
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
		<-p.done
	}
	return p.Usage()
}

// RunProc runs a command to completion and returns its stdout; a non-zero
// exit is an error carrying the tail of stderr.
func RunProc(ctx context.Context, name string, args []string, o ProcOptions) ([]byte, Usage, error) {
	var tail tailBuffer
	on := o.OnLine
	o.OnLine = func(l []byte) {
		tail.add(l)
		if on != nil {
			on(l)
		}
	}
	p, err := StartProc(name, args, o)
	if err != nil {
		return nil, Usage{}, err
	}
	u, err := p.Wait(ctx)
	if err != nil {
		return p.Stdout(), u, err
	}
	if u.ExitCode != 0 {
		return p.Stdout(), u, fmt.Errorf("%s %s: exit %d: %s", baseCmd(name), strings.Join(args[:min(len(args), 2)], " "), u.ExitCode, tail.String())
	}
	return p.Stdout(), u, nil
}

func baseCmd(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// tailBuffer keeps the last few lines for error messages.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuffer) add(l []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, string(l))
	if len(t.lines) > 5 {
		t.lines = t.lines[1:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, " | ")
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every
// Linux this runs on (getconf CLK_TCK confirms it at start when present).
var clockTicks = 100.0

// InitClockTicks asks getconf for USER_HZ.
func InitClockTicks(ctx context.Context) {
	if out, err := exec.CommandContext(ctx, "getconf", "CLK_TCK").Output(); err == nil {
		if v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64); err == nil && v > 0 {
			clockTicks = v
		}
	}
}

// ProcCPU reads a process's user + system CPU seconds from /proc/PID/stat
// (for processes that are not the harness's children, like emulators).
func ProcCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after "pid (comm) ": state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (ut + st) / clockTicks, nil
}

// CPUMeter measures a running process's CPU over an interval.
type CPUMeter struct {
	pid   int
	start float64
	t0    time.Time
}

// StartCPUMeter samples pid now; pid 0 gives a meter that reads NaN.
func StartCPUMeter(pid int) *CPUMeter {
	c, _ := ProcCPU(pid)
	return &CPUMeter{pid: pid, start: c, t0: time.Now()}
}

// Seconds is the CPU time used since the start.
func (m *CPUMeter) Seconds() float64 {
	if m == nil || m.pid <= 0 {
		return nanValue()
	}
	c, err := ProcCPU(m.pid)
	if err != nil {
		return nanValue()
	}
	return c - m.start
}

// MachineCPU reads the whole machine's busy CPU seconds from /proc/stat
// (user, nice, system, irq, softirq, steal), so a run can tell how much
// of the machine other work took meanwhile.
func MachineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return nanValue()
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return nanValue()
	}
	busy := 0.0
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nanValue()
		}
		busy += v
	}
	return busy / clockTicks
}

// CPUSampler records a process's CPU seconds every interval, so the CPU
// spent inside a window known only afterwards (first to last destination
// arrival) can be read back, the same way for every tool.
type CPUSampler struct {
	mu      sync.Mutex
	times   []time.Time
	cpus    []float64
	stop    chan struct{}
	stopped chan struct{}
}

// StartCPUSampler samples pid until Stop.
func StartCPUSampler(pid int, every time.Duration) *CPUSampler {
	s := &CPUSampler{stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() { // ends at Stop or when the process is gone
		defer close(s.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			c, err := ProcCPU(pid)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.times, s.cpus = append(s.times, time.Now()), append(s.cpus, c)
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling; it is idempotent.
func (s *CPUSampler) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.stopped
}

// Between is the CPU used from t0 to t1, interpolated between samples;
// NaN if the window is not covered.
func (s *CPUSampler) Between(t0, t1 time.Time) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := func(t time.Time) (float64, bool) {
		n := len(s.times)
		if n == 0 || t.Before(s.times[0]) {
			return 0, false
		}
		for i := 1; i < n; i++ {
			if !t.After(s.times[i]) {
				a, b := s.times[i-1], s.times[i]
				f := float64(t.Sub(a)) / float64(max(b.Sub(a), 1))
				return s.cpus[i-1] + f*(s.cpus[i]-s.cpus[i-1]), true
			}
		}
		return s.cpus[n-1], true // after the last sample: the process ended
	}
	c0, ok0 := at(t0)
	c1, ok1 := at(t1)
	if !ok0 || !ok1 || t1.Before(t0) {
		return nanValue()
	}
	return c1 - c0
}
