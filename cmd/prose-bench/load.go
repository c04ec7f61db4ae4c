//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one run of the load loop at one concurrency level.
type loadSpec struct {
	// client sends the requests with net/http (--client http); nil: the
	// lean client of rawclient.go (--client raw), with tlsConf for https.
	client  *http.Client
	tlsConf *tls.Config
	// urls are the token endpoints of the servers, used round robin by
	// every worker (one per server instance).
	urls        []string
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	maxRequests int64 // 0: no cap
	// Either basic (one Authorization header per client, used round-robin
	// with basicBody) or bodies (one form body per request, each used once:
	// client assertions).
	basic     []string
	basicBody []byte
	bodies    [][]byte
	// servers are the processes whose CPU time is reported (none: no
	// server CPU figure); postgres adds every process named postgres.
	servers  []serverProc
	postgres bool
	ticks    int64
	progress io.Writer // nil: quiet
	label    string
}

// Latency percentiles of one run, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// RunResult holds the figures of one run.
type RunResult struct {
	Server          string           `json:"server"` // "prose-as" or "ceiling"
	Auth            string           `json:"auth"`   // "basic", "jwt" or "none"
	Format          string           `json:"format"`
	Concurrency     int              `json:"concurrency"`
	WindowSeconds   float64          `json:"window_seconds"`
	WarmupRequests  int64            `json:"warmup_requests"`
	Requests        int64            `json:"requests"`
	Tokens          int64            `json:"tokens"`
	TokensPerSecond float64          `json:"tokens_per_second"`
	LatencyMs       Latency          `json:"latency_ms"`
	ErrorCount      int64            `json:"error_count"`
	Errors          map[string]int64 `json:"errors"`
	StopReason      string           `json:"stop_reason"`
	Client          string           `json:"client"`    // "raw" or "http"
	Instances       int              `json:"instances"` // server processes loaded round robin
	// ServerCPUSeconds and ServerCPUPerToken sum every server process.
	ServerCPUSeconds   *float64 `json:"server_cpu_seconds,omitempty"`
	ServerCPUPerToken  *float64 `json:"server_cpu_us_per_token,omitempty"`
	LoadGenCPUSeconds  float64  `json:"loadgen_cpu_seconds"`
	LoadGenCPUPerToken float64  `json:"loadgen_cpu_us_per_token"`
	// PostgresCPUSeconds is system-wide: every process whose comm is
	// postgres (server, backends of every client, background workers).
	PostgresCPUSeconds  *float64 `json:"postgres_cpu_seconds,omitempty"`
	PostgresCPUPerToken *float64 `json:"postgres_cpu_us_per_token,omitempty"`
	// Processes lists the CPU time of each process measured.
	Processes []ProcessCPU `json:"processes"`
	// MachineBusyPercent is the busy share of all CPUs over the window;
	// OtherCPUSeconds is the busy time not accounted to the server or the
	// load generator: interrupts and other processes. A large value means
	// the run shared the machine and its figures are not representative.
	MachineBusyPercent float64  `json:"machine_busy_percent"`
	OtherCPUSeconds    *float64 `json:"other_cpu_seconds,omitempty"`
	AssertionsPrepared int      `json:"assertions_prepared,omitempty"`
	SampleToken        string   `json:"sample_token_check"`
}

// Why a run stopped.
const (
	stopDuration    = "duration"
	stopRequests    = "requests"
	stopAssertions  = "assertions exhausted"
	stopInterrupted = "interrupted"
	stopTransport   = "too many transport errors"
	stopLatencyBuf  = "latency buffer full"
)

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

// maxTransportErrors stops a run whose server has gone away.
const maxTransportErrors = 1000

// latencyCapacity sizes the preallocated latency buffer: every timed
// request gets a slot. Without a --requests cap it allows 100,000
// requests/s, far above what one machine's loopback reaches.
func latencyCapacity(d time.Duration, maxReq int64) int64 {
	n := int64(math.Ceil(d.Seconds() * 100_000))
	if maxReq > 0 && maxReq < n {
		n = maxReq
	}
	return min(n, maxRequests)
}

// worker state that is merged at the end.
type workerStats struct {
	errors map[string]int64
	tokens int64
	sample []byte
}

// runLoad runs warmup, then the timed part, and returns its figures and a
// sample successful response body.
func runLoad(ctx context.Context, sp *loadSpec) (*RunResult, []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([]time.Duration, latencyCapacity(sp.duration, sp.maxRequests))
	var (
		phase      atomic.Int32
		nextSlot   atomic.Int64 // timed requests claimed
		nextBody   atomic.Int64 // bodies (assertions) claimed, warmup included
		nextClient atomic.Uint64
		warmupN    atomic.Int64
		issued     atomic.Int64 // tokens received in the timed part, for progress
		transport  atomic.Int64
		stopOnce   sync.Once
		stopReason string
		stopped    = make(chan struct{})
	)
	stop := func(reason string) {
		stopOnce.Do(func() {
			stopReason = reason
			phase.Store(phaseStop)
			close(stopped)
		})
	}
	limit := int64(len(lats))
	if sp.maxRequests > 0 {
		limit = min(limit, sp.maxRequests)
	}
	stats := make([]workerStats, sp.concurrency)
	shared, err := newRequestShared(sp)
	if err != nil {
		return nil, nil, err
	}
	var wg sync.WaitGroup
	for w := range sp.concurrency {
		ws := &stats[w]
		ws.errors = map[string]int64{}
		p, err := newRequester(ctx, sp, shared)
		if err != nil {
			cancel()
			wg.Wait()
			return nil, nil, fmt.Errorf("prose-bench: %v", err)
		}
		tgt := w % len(sp.urls)
		wg.Go(func() {
			defer p.close()
			for {
				ph := phase.Load()
				if ph == phaseStop {
					return
				}
				var body []byte
				auth := -1
				if sp.bodies != nil {
					k := nextBody.Add(1) - 1
					if k >= int64(len(sp.bodies)) {
						stop(stopAssertions)
						return
					}
					body = sp.bodies[k]
				} else {
					auth = int((nextClient.Add(1) - 1) % uint64(len(sp.basic)))
					body = sp.basicBody
				}
				slot := int64(-1)
				if ph == phaseMeasure {
					slot = nextSlot.Add(1) - 1
					if slot >= limit {
						if sp.maxRequests > 0 && slot >= sp.maxRequests {
							stop(stopRequests)
						} else {
							stop(stopLatencyBuf)
						}
						return
					}
				} else {
					warmupN.Add(1)
				}
				t0 := time.Now()
				status, key, err := p.post(t0, tgt, auth, body)
				lat := time.Since(t0)
				if tgt++; tgt == len(sp.urls) {
					tgt = 0
				}
				if err != nil {
					if ctx.Err() != nil {
						if slot >= 0 {
							lats[slot] = lat
							ws.errors["interrupted"]++
						}
						return
					}
					key = "transport: " + shortErr(err)
					if transport.Add(1) >= maxTransportErrors {
						stop(stopTransport)
					}
				}
				if slot < 0 {
					continue
				}
				lats[slot] = lat
				if status == http.StatusOK && key == "" {
					issued.Add(1)
					ws.tokens++
					if ws.sample == nil {
						ws.sample = bytes.Clone(p.lastBody())
					}
				} else {
					ws.errors[key]++
				}
			}
		})
	}

	// Warmup, then the timed window.
	if sp.warmup > 0 {
		t := time.NewTimer(sp.warmup)
		select {
		case <-t.C:
		case <-stopped:
		case <-ctx.Done():
		}
		t.Stop()
	}
	srv0, srvErr := serversCPU(sp.servers)
	var pg0 map[int]int64
	var pgErr error
	if sp.postgres {
		pg0, pgErr = postgresCPU()
	}
	self0 := selfCPU()
	busy0, total0, machErr := machineCPU()
	t0 := time.Now()
	phase.CompareAndSwap(phaseWarmup, phaseMeasure)
	progressDone := make(chan struct{})
	if sp.progress != nil {
		go showProgress(sp.progress, sp.label, t0, &issued, stopped, progressDone)
	} else {
		close(progressDone)
	}
	timer := time.NewTimer(sp.duration)
	select {
	case <-timer.C:
		stop(stopDuration)
	case <-stopped:
	case <-ctx.Done():
		stop(stopInterrupted)
	}
	timer.Stop()
	wg.Wait()
	window := time.Since(t0)
	self1 := selfCPU()
	busy1, total1, machErr1 := machineCPU()
	var srv1 []int64
	if srvErr == nil {
		srv1, srvErr = serversCPU(sp.servers)
	}
	var pg1 map[int]int64
	if sp.postgres && pgErr == nil {
		pg1, pgErr = postgresCPU()
	}
	<-progressDone
	if ctx.Err() != nil && stopReason != stopInterrupted {
		stopReason = stopInterrupted
	}

	n := min(nextSlot.Load(), limit)
	res := &RunResult{
		Client:         map[bool]string{true: "http", false: "raw"}[sp.client != nil],
		Instances:      len(sp.urls),
		Concurrency:    sp.concurrency,
		WindowSeconds:  window.Seconds(),
		WarmupRequests: warmupN.Load(),
		Requests:       n,
		Errors:         map[string]int64{},
		StopReason:     stopReason,
	}
	var sample []byte
	for i := range stats {
		res.Tokens += stats[i].tokens
		for k, v := range stats[i].errors {
			res.Errors[k] += v
			res.ErrorCount += v
		}
		if sample == nil {
			sample = stats[i].sample
		}
	}
	res.TokensPerSecond = float64(res.Tokens) / window.Seconds()
	res.LatencyMs = latencyStats(lats[:n])
	res.LoadGenCPUSeconds = (self1 - self0).Seconds()
	if res.Tokens > 0 {
		res.LoadGenCPUPerToken = float64((self1 - self0).Microseconds()) / float64(res.Tokens)
	}
	perToken := func(sec float64) *float64 {
		if res.Tokens == 0 {
			return nil
		}
		v := sec * 1e6 / float64(res.Tokens)
		return &v
	}
	res.Processes = append(res.Processes, ProcessCPU{Process: "prose-bench (load generator)", PID: os.Getpid(), CPUSeconds: res.LoadGenCPUSeconds, CPUPerToken: perToken(res.LoadGenCPUSeconds)})
	if len(sp.servers) > 0 {
		if srvErr != nil {
			return nil, nil, srvErr
		}
		sum := 0.0
		for i, sv := range sp.servers {
			sec := float64(srv1[i]-srv0[i]) / float64(sp.ticks)
			sum += sec
			res.Processes = append(res.Processes, ProcessCPU{Process: sv.name, PID: sv.pid, CPUSeconds: sec, CPUPerToken: perToken(sec)})
		}
		res.ServerCPUSeconds = &sum
		res.ServerCPUPerToken = perToken(sum)
	}
	if sp.postgres {
		if pgErr != nil {
			return nil, nil, pgErr
		}
		sec := float64(cpuDelta(pg0, pg1)) / float64(sp.ticks)
		res.PostgresCPUSeconds = &sec
		res.PostgresCPUPerToken = perToken(sec)
		res.Processes = append(res.Processes, ProcessCPU{Process: postgresLabel, CPUSeconds: sec, CPUPerToken: perToken(sec), Count: len(pg1)})
	}
	if machErr == nil && machErr1 == nil && total1 > total0 {
		res.MachineBusyPercent = math.Round(1000*float64(busy1-busy0)/float64(total1-total0)) / 10
		if res.ServerCPUSeconds != nil {
			known := *res.ServerCPUSeconds + res.LoadGenCPUSeconds
			if res.PostgresCPUSeconds != nil {
				known += *res.PostgresCPUSeconds
			}
			other := max(0, float64(busy1-busy0)/float64(sp.ticks)-known)
			res.OtherCPUSeconds = &other
		}
	}
	return res, sample, nil
}

// requester sends the token requests of one worker to the targets
// (sp.urls by index) and keeps the last response body.
type requester interface {
	// post sends one request to target tgt with the Authorization header
	// sp.basic[auth] (auth >= 0) or none, and body, and reads the whole
	// response. For a non-200 answer, key is "<status> <OAuth error
	// code>"; for a 200 whose body has no access_token, key says so.
	post(now time.Time, tgt, auth int, body []byte) (status int, key string, err error)
	// lastBody is the body of the last response, valid until the next post.
	lastBody() []byte
	close()
}

// requestShared is what the workers of one run share, read-only.
type requestShared struct {
	targets []*rawTarget
	// rawBasic holds the serialised requests of client_secret_basic
	// runs: [target][client], all with the body basicBody.
	rawBasic  [][][]byte
	basicBody []byte
}

func newRequestShared(sp *loadSpec) (*requestShared, error) {
	if len(sp.urls) == 0 {
		return nil, errors.New("prose-bench: no target URL")
	}
	if sp.client != nil {
		return &requestShared{}, nil
	}
	sh := &requestShared{basicBody: sp.basicBody}
	for _, u := range sp.urls {
		t, err := newRawTarget(u, sp.tlsConf)
		if err != nil {
			return nil, err
		}
		sh.targets = append(sh.targets, t)
		if sp.bodies == nil {
			reqs := make([][]byte, len(sp.basic))
			for i, a := range sp.basic {
				reqs[i] = t.request(nil, a, sp.basicBody)
			}
			sh.rawBasic = append(sh.rawBasic, reqs)
		}
	}
	return sh, nil
}

func newRequester(ctx context.Context, sp *loadSpec, sh *requestShared) (requester, error) {
	if sp.client != nil {
		return newPoster(ctx, sp)
	}
	p := &rawPoster{ctx: ctx, sh: sh, basic: sp.basic, body: make([]byte, 0, 4096)}
	d := loopbackDialer()
	for _, t := range sh.targets {
		p.conns = append(p.conns, &rawConn{t: t, dialer: d})
	}
	return p, nil
}

// rawPoster is the requester of --client raw.
type rawPoster struct {
	ctx   context.Context
	sh    *requestShared
	basic []string
	conns []*rawConn
	wbuf  []byte
	body  []byte
}

func (p *rawPoster) post(now time.Time, tgt, auth int, body []byte) (int, string, error) {
	var req []byte
	if auth >= 0 && p.sh.rawBasic != nil && bytes.Equal(body, p.sh.basicBody) {
		req = p.sh.rawBasic[tgt][auth]
	} else {
		a := ""
		if auth >= 0 {
			a = p.basic[auth]
		}
		p.wbuf = p.sh.targets[tgt].request(p.wbuf[:0], a, body)
		req = p.wbuf
	}
	status, err := p.conns[tgt].roundTrip(p.ctx, now, req, &p.body)
	if err != nil {
		return 0, "", err
	}
	st, key := classify(status, p.body)
	return st, key, nil
}

func (p *rawPoster) lastBody() []byte { return p.body }

func (p *rawPoster) close() {
	for _, c := range p.conns {
		c.close()
	}
}

// poster is the requester of --client http (net/http), reusing one
// request value per target (with its header map and URL) and one body
// reader for all of them.
type poster struct {
	client *http.Client
	basic  []string
	reqs   []*http.Request
	cur    []byte // the current request's body
	body   bytes.Reader
	// rc is body as the request's io.ReadCloser. net/http recognises an
	// io.NopCloser around a *bytes.Reader as in-memory and sends headers
	// and body in one write; any other reader costs a second write
	// syscall per request.
	rc  io.ReadCloser
	buf bytes.Buffer
}

func newPoster(ctx context.Context, sp *loadSpec) (*poster, error) {
	p := &poster{client: sp.client, basic: sp.basic}
	p.rc = io.NopCloser(&p.body)
	for _, u := range sp.urls {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// Lets the transport send a request again on a fresh connection
		// when nothing of it was written on a reused one, as for requests
		// made by http.NewRequest (a POST it has written is never sent
		// again).
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p.cur)), nil }
		p.reqs = append(p.reqs, req)
	}
	p.buf.Grow(4096)
	return p, nil
}

// post sends one token request and reads the whole response into p.buf.
// The request value is reused only after the previous response body is
// closed, as net/http requires.
func (p *poster) post(_ time.Time, tgt, auth int, body []byte) (status int, key string, err error) {
	req := p.reqs[tgt]
	p.cur = body
	p.body.Reset(body)
	req.Body = p.rc
	req.ContentLength = int64(len(body))
	if auth >= 0 {
		req.Header["Authorization"] = []string{p.basic[auth]}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	p.buf.Reset()
	_, err = p.buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return 0, "", err
	}
	status, key = classify(resp.StatusCode, p.buf.Bytes())
	return status, key, nil
}

func (p *poster) lastBody() []byte { return p.buf.Bytes() }

func (p *poster) close() {}

// classify turns a token response into the run's accounting key: "" for a
// token, else what went wrong.
func classify(status int, body []byte) (int, string) {
	if status == http.StatusOK {
		if !bytes.Contains(body, []byte(`"access_token":"`)) {
			return status, "200 without access_token"
		}
		return status, ""
	}
	var e struct {
		Error string `json:"error"`
	}
	code := "(no OAuth error)"
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		code = e.Error
	}
	return status, strconv.Itoa(status) + " " + code
}

// shortErr keeps error keys few: the innermost error's text.
func shortErr(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// latencyStats sorts lats in place and returns nearest-rank percentiles.
func latencyStats(lats []time.Duration) Latency {
	if len(lats) == 0 {
		return Latency{}
	}
	slices.Sort(lats)
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
	pct := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(lats)))) - 1
		return ms(lats[max(0, min(i, len(lats)-1))])
	}
	var sum time.Duration
	for _, l := range lats {
		sum += l
	}
	return Latency{
		P50:  pct(0.50),
		P90:  pct(0.90),
		P99:  pct(0.99),
		Max:  ms(lats[len(lats)-1]),
		Mean: ms(sum / time.Duration(len(lats))),
	}
}

// showProgress prints the tokens received so far and the current rate once a
// second until stopped is closed.
func showProgress(w io.Writer, label string, t0 time.Time, tokens *atomic.Int64, stopped <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tk := time.NewTicker(time.Second)
	defer tk.Stop()
	last, lastT := int64(0), t0
	for {
		select {
		case <-stopped:
			fmt.Fprintf(w, "\r\033[K")
			return
		case now := <-tk.C:
			n := tokens.Load()
			rate := float64(n-last) / now.Sub(lastT).Seconds()
			fmt.Fprintf(w, "\r\033[K%s: %3.0fs  %d tokens  %.0f tokens/s", label, now.Sub(t0).Seconds(), n, rate)
			last, lastT = n, now
		}
	}
}
