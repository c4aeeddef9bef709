package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

const (
	// maxRequest bounds a request body: above kinesalite's 7 MiB and AWS's
	// 10 MiB, so the upstream, not the proxy, rejects oversize calls.
	maxRequest = 16 << 20
	// maxResponse bounds a response body read whole (GetRecords ≤ 10 MiB
	// of data, base64 inflated).
	maxResponse = 64 << 20
	// defaultShardRefresh is how long a ListShards answer is trusted.
	defaultShardRefresh = 5 * time.Second
)

// Options configure a Proxy. The zero value is usable: no faults, a seed
// from the clock, shards re-listed every 5 s, loopback only.
type Options struct {
	// Seed seeds every random choice; 0 picks one from the clock. Seed()
	// reports the one in use, so a failing run can be repeated.
	Seed uint64

	// Faults are injected on every stream without faults of its own (as
	// SetFaults("", f)). Zero injects nothing.
	Faults Faults

	// DynamoUpstream, if set, receives requests whose X-Amz-Target starts
	// with "DynamoDB_", unchanged and unfaulted (a checkpointer on
	// dynalite behind the same endpoint). Unset, they go to the upstream.
	DynamoUpstream string

	// AllowRemote lets Listen bind a non-loopback address. Off, Listen
	// refuses anything but 127.0.0.0/8, ::1 and localhost.
	AllowRemote bool

	// ShardRefresh is how long the open shards listed for the write limits
	// are trusted before the proxy lists them again; 0 means 5 s.
	ShardRefresh time.Duration

	// Log receives warnings (upstream failures) and, at debug level, one
	// line per injected fault; never payloads. The zero Logger is silent.
	Log zerolog.Logger

	// Now is the clock of the per-shard limits and the shard refresh; nil
	// means time.Now. A test seam: freezing it makes limits exact.
	Now func() time.Time
}

// Validate reports every bad field at once.
func (o Options) Validate() error {
	var errs []error
	if o.DynamoUpstream != "" {
		if _, err := parseUpstream(o.DynamoUpstream); err != nil {
			errs = append(errs, fmt.Errorf("dynamo upstream: %w", err))
		}
	}
	if o.ShardRefresh < 0 {
		errs = append(errs, fmt.Errorf("shard refresh %v: must not be negative", o.ShardRefresh))
	}
	if err := o.Faults.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("faults: %w", err))
	}
	return errors.Join(errs...)
}

func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q: want http://HOST:PORT", s)
	}
	return u, nil
}

// Proxy is a fault-injecting Kinesis proxy; it is an http.Handler. Serve it
// with Listen (or Start in tests), or mount it on a server of your own.
// Its methods are safe for concurrent use.
type Proxy struct {
	upstream *url.URL
	dynamo   *url.URL // nil: DynamoDB calls go to upstream
	opts     Options
	seed     uint64
	now      func() time.Time
	log      zerolog.Logger
	client   *http.Client

	mu     sync.Mutex // guards faults and dice
	faults map[string]Faults
	dice   map[string]*dice

	stats  stats
	iters  iterTable
	shards shardCache
	limits limiter
	reqSeq atomic.Uint64

	// Lifecycle. ctx ends at Close and wakes every waiting handler.
	ctx      context.Context
	cancel   context.CancelFunc
	hmu      sync.Mutex
	handlers int       // ServeHTTP calls in progress
	idle     sync.Cond // signalled when handlers drops to 0
	closed   bool
	srv      *http.Server
	served   chan struct{} // closed when srv.Serve returns
	url      string
	once     sync.Once
}

// New returns a proxy in front of upstream (http://127.0.0.1:PORT of an
// emulator). It does not listen yet.
func New(upstream string, opts Options) (*Proxy, error) {
	up, err := parseUpstream(upstream)
	err = errors.Join(err, opts.Validate())
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{upstream: up, opts: opts, seed: opts.Seed, now: opts.Now,
		faults: map[string]Faults{"": opts.Faults}, dice: map[string]*dice{}}
	if opts.DynamoUpstream != "" {
		p.dynamo, _ = parseUpstream(opts.DynamoUpstream)
	}
	if p.seed == 0 {
		p.seed = uint64(time.Now().UnixNano())
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.opts.ShardRefresh == 0 {
		p.opts.ShardRefresh = defaultShardRefresh
	}
	p.log = opts.Log.With().Str("component", "faultproxy").Logger()
	p.client = &http.Client{Transport: &http.Transport{
		Proxy:               nil, // never an HTTP_PROXY from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass Accept-Encoding through as sent
	}}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.idle.L = &p.hmu
	return p, nil
}

// Seed returns the seed in use.
func (p *Proxy) Seed() uint64 { return p.seed }

// URL returns http://ADDR after Listen, else "".
func (p *Proxy) URL() string {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	return p.url
}

// SetFaults sets the faults of stream, replacing (not merging with) the
// defaults for it; stream "" sets the defaults of every stream without
// faults of its own. It applies to calls that start afterwards.
func (p *Proxy) SetFaults(stream string, f Faults) error {
	if err := f.Validate(); err != nil {
		return fmt.Errorf("faults of %q: %w", stream, err)
	}
	f.Ops = append([]string(nil), f.Ops...)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[stream] = f
	return nil
}

// ClearFaults removes stream's own faults, so the defaults apply to it
// again; ClearFaults("") clears the defaults.
func (p *Proxy) ClearFaults(stream string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if stream == "" {
		p.faults[""] = Faults{}
		return
	}
	delete(p.faults, stream)
}

// Faults returns the faults set, by stream ("" for the defaults).
func (p *Proxy) Faults() map[string]Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Faults, len(p.faults))
	for s, f := range p.faults {
		f.Ops = append([]string(nil), f.Ops...)
		out[s] = f
	}
	return out
}

// faultsFor returns the faults that apply to stream.
func (p *Proxy) faultsFor(stream string) Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.faults[stream]; ok && stream != "" {
		return f
	}
	return p.faults[""]
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	s := p.stats.snapshot()
	s.Seed = p.seed
	return s
}

// ResetStats zeroes the counters.
func (p *Proxy) ResetStats() { p.stats.reset() }

// dice is the random source of one stream and operation, so concurrent
// calls on other streams or operations never shift its sequence.
type dice struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (p *Proxy) diceFor(stream, op string) *dice {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := stream + "\x00" + op
	d := p.dice[k]
	if d == nil {
		h := fnv.New64a()
		_, _ = io.WriteString(h, k)
		d = &dice{r: rand.New(rand.NewPCG(p.seed, h.Sum64()))}
		p.dice[k] = d
	}
	return d
}

// Listen serves the proxy on addr (127.0.0.1:0 picks a port) and returns
// its URL, http://127.0.0.1:PORT. Non-loopback addresses are refused
// unless Options.AllowRemote. It may be called once.
func (p *Proxy) Listen(addr string) (string, error) {
	if !p.opts.AllowRemote {
		if err := checkLoopback(addr); err != nil {
			return "", err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("faultproxy: %w", err)
	}
	p.hmu.Lock()
	defer p.hmu.Unlock()
	if p.closed || p.srv != nil {
		ln.Close()
		return "", errors.New("faultproxy: already listening or closed")
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	p.served = make(chan struct{})
	p.url = "http://" + ln.Addr().String()
	go func() { // owned by Close, which waits for served
		defer close(p.served)
		_ = p.srv.Serve(ln)
	}()
	return p.url, nil
}

// checkLoopback refuses an address that is not on a loopback interface.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("faultproxy: listen %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("faultproxy: listen %q: not a loopback address (set AllowRemote to bind it)", addr)
}

// Close stops the proxy; it is idempotent and returns once every handler
// has. Steps:
//  1. refuse new calls and wake waiting ones (latency, ambiguous delays,
//     upstream calls) by ending p.ctx;
//  2. close the listener and every open connection;
//  3. wait for the serve loop and for handlers still running;
//  4. drop idle upstream connections.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		p.hmu.Lock()
		p.closed = true
		srv, served := p.srv, p.served
		p.hmu.Unlock()
		p.cancel() // 1
		if srv != nil {
			_ = srv.Close() // 2
			<-served        // 3
		}
		p.hmu.Lock()
		for p.handlers > 0 {
			p.idle.Wait()
		}
		p.hmu.Unlock()
		p.client.CloseIdleConnections() // 4
	})
	return nil
}

func (p *Proxy) enter() bool {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	if p.closed {
		return false
	}
	p.handlers++
	return true
}

func (p *Proxy) leave() {
	p.hmu.Lock()
	defer p.hmu.Unlock()
	p.handlers--
	if p.handlers == 0 {
		p.idle.Broadcast()
	}
}

// ServeHTTP routes one request: /_ paths to the admin endpoint, DynamoDB
// calls to DynamoUpstream, Kinesis JSON calls through the faults, anything
// else through unchanged.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.enter() {
		http.Error(w, "faultproxy: closed", http.StatusServiceUnavailable)
		return
	}
	defer p.leave()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)()

	if strings.HasPrefix(r.URL.Path, "/_") {
		p.admin(w, r)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	if strings.HasPrefix(target, targetDynamo) && p.dynamo != nil {
		p.stats.add("DynamoDB", func(s *OpStats) { s.Requests++ })
		p.passThrough(ctx, w, r, p.dynamo, "DynamoDB")
		return
	}
	op, ok := strings.CutPrefix(target, targetKinesis)
	if !ok || r.Method != http.MethodPost || !isJSON(r.Header.Get("Content-Type")) {
		name := op
		if !ok {
			name = "other"
		}
		p.stats.add(name, func(s *OpStats) { s.Requests++ })
		p.passThrough(ctx, w, r, p.upstream, name)
		return
	}
	p.stats.add(op, func(s *OpStats) { s.Requests++ })
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "faultproxy: request body too large", http.StatusRequestEntityTooLarge)
		}
		return // else the client went away mid-body
	}
	c := &call{p: p, w: w, r: r, ctx: ctx, op: op, body: body{raw: raw}}
	c.serve()
}

// passThrough streams a request to up and its response back, unchanged.
func (p *Proxy) passThrough(ctx context.Context, w http.ResponseWriter, r *http.Request, up *url.URL, op string) {
	out, err := http.NewRequestWithContext(ctx, r.Method, upstreamURL(up, r.URL), r.Body)
	if err != nil {
		http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	copyHeaders(out.Header, r.Header)
	out.ContentLength = r.ContentLength
	resp, err := p.client.Do(out)
	if err != nil {
		p.upstreamFailed(ctx, w, op, err)
		return
	}
	defer resp.Body.Close()
	p.stats.add(op, func(s *OpStats) { s.Forwarded++ })
	copyHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// upstreamURL is up with the request's path and query (AWS ignores the
// path; keep it anyway).
func upstreamURL(up *url.URL, in *url.URL) string {
	u := *up
	u.Path = strings.TrimSuffix(up.Path, "/") + in.Path
	if u.Path == "" {
		u.Path = "/"
	}
	u.RawPath = ""
	u.RawQuery = in.RawQuery
	return u.String()
}

// upstreamFailed answers 502 when the upstream could not be reached. If
// the call ended first (the client left, the proxy is closing) it drops
// the connection instead.
func (p *Proxy) upstreamFailed(ctx context.Context, w http.ResponseWriter, op string, err error) {
	if ctx.Err() != nil {
		abort(w)
		return
	}
	p.stats.add(op, func(s *OpStats) { s.UpstreamErrors++ })
	p.log.Warn().Err(err).Str("op", op).Msg("upstream call failed")
	http.Error(w, "faultproxy: upstream unreachable", http.StatusBadGateway)
}
