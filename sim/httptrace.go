package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ASName is the name of the application server in traces and charts.
const ASName = "prose-as"

// httpRunName is the run of trace.jsonl that holds the HTTPS exchanges of
// the in-coverage phase.
const httpRunName = "coverage: provisioning over HTTPS"

// httpLog records the HTTPS exchanges of the UEs with the AS as frames of
// one run: a request (UE → prose-as) and its response (prose-as → UE),
// timed by the AS's virtual clock. It records sizes and the fields a reader
// of the exchange needs (grant type, scope, token format, client
// authentication method, status, OAuth error, token type and lifetime),
// never a token, an assertion, a secret or a key.
type httpLog struct {
	clk   *clock
	start time.Time
	mu    sync.Mutex
	fr    []Frame
}

func newHTTPLog(clk *clock) *httpLog { return &httpLog{clk: clk, start: clk.Now()} }

// frames returns what was recorded so far, in order.
func (l *httpLog) frames() []Frame {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Frame(nil), l.fr...)
}

// transport wraps rt so that every exchange of the UE named ue is
// recorded.
func (l *httpLog) transport(ue string, rt http.RoundTripper) http.RoundTripper {
	return &tracingTransport{log: l, ue: ue, next: rt}
}

type tracingTransport struct {
	log  *httpLog
	ue   string
	next http.RoundTripper
}

// maxRecorded bounds the bodies the recorder buffers (the ue client's own
// limits are far lower).
const maxRecorded = 4 << 20

func (t *tracingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxRecorded+1))
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		if len(b) > maxRecorded {
			return nil, fmt.Errorf("sim: request body of more than %d octets", maxRecorded)
		}
		body = b
		req = req.Clone(req.Context()) // a RoundTripper must not modify the caller's request
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	rq := Frame{Proto: ProtoHTTPS, From: t.ue, To: ASName, Message: req.Method + " " + req.URL.Path, Size: len(body),
		Fields: requestFields(req, body)}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		rq.Dropped = "no response: " + err.Error()
		t.log.add(rq)
		return nil, err
	}
	rbody, rerr := io.ReadAll(io.LimitReader(resp.Body, maxRecorded+1))
	resp.Body.Close()
	if rerr == nil && len(rbody) > maxRecorded {
		rerr = fmt.Errorf("sim: response body of more than %d octets", maxRecorded)
	}
	if rerr != nil {
		rq.Dropped = "response body unreadable: " + rerr.Error()
		t.log.add(rq)
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(rbody))
	rs := Frame{Proto: ProtoHTTPS, From: ASName, To: t.ue, Message: resp.Status, Size: len(rbody),
		Fields: responseFields(resp, rbody), Rejected: resp.StatusCode >= 400}
	if resp.StatusCode == http.StatusNotFound && strings.HasPrefix(req.URL.Path, "/statuslists/") {
		// The ue client walks the lists 0, 1, … until a 404: no refusal.
		rs.Rejected = false
		rs.Fields["note"] = "end of the status list walk"
	}
	t.log.add(rq, rs)
	return resp, nil
}

func (l *httpLog) add(fs ...Frame) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.clk.Now().Sub(l.start).Seconds()
	for _, f := range fs {
		f.Run, f.T = httpRunName, t
		l.fr = append(l.fr, f)
	}
}

// requestFields: the OAuth parameters of a token request and how the client
// authenticated; the assertion and any secret are left out.
func requestFields(req *http.Request, body []byte) map[string]string {
	f := map[string]string{}
	if q := req.URL.RawQuery; q != "" {
		f["query"] = q
	}
	if ct := req.Header.Get("Content-Type"); ct != "" {
		f["content_type"] = ct
	}
	if _, _, ok := req.BasicAuth(); ok {
		f["client_auth"] = "client_secret_basic"
	}
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return f
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f["form"] = "undecodable"
		return f
	}
	for _, k := range []string{"grant_type", "scope", "token_format", "client_id"} {
		if v := form.Get(k); v != "" {
			f[k] = v
		}
	}
	if form.Get("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		f["client_auth"] = "private_key_jwt"
	} else if form.Get("client_secret") != "" {
		f["client_auth"] = "client_secret_post"
	}
	return f
}

// responseFields: the content type and, of a JSON body, the OAuth members
// a reader looks for (error, token_type, expires_in, issuer, the number of
// keys of a JWK Set), never the access token.
func responseFields(resp *http.Response, body []byte) map[string]string {
	f := map[string]string{}
	ct := resp.Header.Get("Content-Type")
	if ct != "" {
		f["content_type"] = ct
	}
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		f["retry_after"] = ra
	}
	mt, _, _ := mime.ParseMediaType(ct)
	if mt != "application/json" {
		return f
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return f
	}
	for _, k := range []string{"error", "token_type", "issued_token_type", "issuer"} {
		var s string
		if json.Unmarshal(m[k], &s) == nil && s != "" {
			f[k] = s
		}
	}
	var n json.Number
	if json.Unmarshal(m["expires_in"], &n) == nil && n != "" {
		f["expires_in"] = n.String()
	}
	var keys []json.RawMessage
	if json.Unmarshal(m["keys"], &keys) == nil && m["keys"] != nil {
		f["keys"] = strconv.Itoa(len(keys))
	}
	if _, ok := m["access_token"]; ok {
		f["access_token"] = "(" + strconv.Itoa(len(strings.Trim(string(m["access_token"]), `"`))) + " characters, not recorded)"
	}
	return f
}
