//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec is one run of the load loop at one concurrency level.
type loadSpec struct {
	client      *http.Client
	url         string // the token endpoint
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
	serverPID int // 0: no server CPU figure
	ticks     int64
	progress  io.Writer // nil: quiet
	label     string
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
	Server             string           `json:"server"` // "prose-as" or "ceiling"
	Auth               string           `json:"auth"`   // "basic", "jwt" or "none"
	Format             string           `json:"format"`
	Concurrency        int              `json:"concurrency"`
	WindowSeconds      float64          `json:"window_seconds"`
	WarmupRequests     int64            `json:"warmup_requests"`
	Requests           int64            `json:"requests"`
	Tokens             int64            `json:"tokens"`
	TokensPerSecond    float64          `json:"tokens_per_second"`
	LatencyMs          Latency          `json:"latency_ms"`
	ErrorCount         int64            `json:"error_count"`
	Errors             map[string]int64 `json:"errors"`
	StopReason         string           `json:"stop_reason"`
	ServerCPUSeconds   *float64         `json:"server_cpu_seconds,omitempty"`
	ServerCPUPerToken  *float64         `json:"server_cpu_us_per_token,omitempty"`
	LoadGenCPUSeconds  float64          `json:"loadgen_cpu_seconds"`
	LoadGenCPUPerToken float64          `json:"loadgen_cpu_us_per_token"`
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
	var wg sync.WaitGroup
	for w := range sp.concurrency {
		ws := &stats[w]
		ws.errors = map[string]int64{}
		p, err := newPoster(ctx, sp.client, sp.url)
		if err != nil {
			cancel()
			wg.Wait()
			return nil, nil, fmt.Errorf("prose-bench: %v", err)
		}
		wg.Go(func() {
			for {
				ph := phase.Load()
				if ph == phaseStop {
					return
				}
				var body []byte
				auth := ""
				if sp.bodies != nil {
					k := nextBody.Add(1) - 1
					if k >= int64(len(sp.bodies)) {
						stop(stopAssertions)
						return
					}
					body = sp.bodies[k]
				} else {
					auth = sp.basic[(nextClient.Add(1)-1)%uint64(len(sp.basic))]
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
				status, key, err := p.post(auth, body)
				lat := time.Since(t0)
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
						ws.sample = bytes.Clone(p.buf.Bytes())
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
	var srv0 int64
	var srvErr error
	if sp.serverPID > 0 {
		srv0, srvErr = procCPU(sp.serverPID)
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
	var srv1 int64
	if sp.serverPID > 0 && srvErr == nil {
		srv1, srvErr = procCPU(sp.serverPID)
	}
	<-progressDone
	if ctx.Err() != nil && stopReason != stopInterrupted {
		stopReason = stopInterrupted
	}

	n := min(nextSlot.Load(), limit)
	res := &RunResult{
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
	if sp.serverPID > 0 {
		if srvErr != nil {
			return nil, nil, srvErr
		}
		sec := float64(srv1-srv0) / float64(sp.ticks)
		res.ServerCPUSeconds = &sec
		if res.Tokens > 0 {
			per := sec * 1e6 / float64(res.Tokens)
			res.ServerCPUPerToken = &per
		}
	}
	if machErr == nil && machErr1 == nil && total1 > total0 {
		res.MachineBusyPercent = math.Round(1000*float64(busy1-busy0)/float64(total1-total0)) / 10
		if res.ServerCPUSeconds != nil {
			other := max(0, float64(busy1-busy0)/float64(sp.ticks)-*res.ServerCPUSeconds-res.LoadGenCPUSeconds)
			res.OtherCPUSeconds = &other
		}
	}
	return res, sample, nil
}

// poster sends the token requests of one worker, reusing one request
// value (with its header map and URL) and one body reader for all of them.
type poster struct {
	client *http.Client
	req    *http.Request
	cur    []byte // the current request's body
	body   bytes.Reader
	// rc is body as the request's io.ReadCloser. net/http recognises an
	// io.NopCloser around a *bytes.Reader as in-memory and sends headers
	// and body in one write; any other reader costs a second write
	// syscall per request.
	rc  io.ReadCloser
	buf bytes.Buffer
}

func newPoster(ctx context.Context, c *http.Client, url string) (*poster, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p := &poster{client: c, req: req}
	p.rc = io.NopCloser(&p.body)
	// Lets the transport replay a request on a fresh connection, as it
	// does for requests made by http.NewRequest.
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(p.cur)), nil }
	p.buf.Grow(4096)
	return p, nil
}

// post sends one token request and reads the whole response into p.buf.
// For a non-200 answer, key is "<status> <OAuth error code>"; for a 200
// whose body has no access_token, key says so. The request value is reused
// only after the previous response body is closed, as net/http requires.
func (p *poster) post(auth string, body []byte) (status int, key string, err error) {
	p.cur = body
	p.body.Reset(body)
	p.req.Body = p.rc
	p.req.ContentLength = int64(len(body))
	if auth != "" {
		p.req.Header["Authorization"] = []string{auth}
	}
	resp, err := p.client.Do(p.req)
	if err != nil {
		return 0, "", err
	}
	p.buf.Reset()
	_, err = p.buf.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode == http.StatusOK {
		if !bytes.Contains(p.buf.Bytes(), []byte(`"access_token":"`)) {
			return resp.StatusCode, "200 without access_token", nil
		}
		return resp.StatusCode, "", nil
	}
	var e struct {
		Error string `json:"error"`
	}
	code := "(no OAuth error)"
	if json.Unmarshal(p.buf.Bytes(), &e) == nil && e.Error != "" {
		code = e.Error
	}
	return resp.StatusCode, strconv.Itoa(resp.StatusCode) + " " + code, nil
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
