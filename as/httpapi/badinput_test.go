package httpapi_test

import (
	"bytes"
	"encoding/json"

	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/as"
	"github.com/prosesec/prosesec/as/httpapi"
)

// Bad-input kinds of the matrix.
const (
	kindMalformed   = "malformed body"
	kindOversize    = "oversize body"
	kindContentType = "wrong content type"
	kindCharset     = "non-UTF-8 charset"
	kindDuplicate   = "duplicated parameter"
	kindUTF8        = "invalid UTF-8"
	kindMethod      = "wrong method"
	kindNoAuth      = "no credentials"
)

var badKinds = []string{kindMalformed, kindOversize, kindContentType, kindCharset, kindDuplicate, kindUTF8, kindMethod, kindNoAuth}

// validBody is a body each body-taking route accepts (checked at the end
// of the matrix, so that the matrix's failures come from the defect alone).
func validBody(t *testing.T, rt httpapi.Route, jwk string) string {
	switch rt.Method + " " + rt.Pattern {
	case "POST " + as.PathToken:
		return "grant_type=client_credentials&scope=u2u%3Ause%3A000001"
	case "POST " + as.PathRevoke, "POST " + as.PathIntrospect:
		return "token=abc&token_type_hint=access_token"
	case "POST /admin/v1/ues":
		return `{"id":"ue-new","public_key":` + jwk + `,"grants":["u2u:use:000001"],"with_secret":true}`
	case "PUT /admin/v1/ues/{id}":
		return `{"grants":["u2u:use:000002"],"token_lifetime":"2h"}`
	case "POST /admin/v1/keys/rotate":
		return `{"force":true}`
	}
	if rt.Body != httpapi.BodyNone {
		t.Fatalf("no valid body for the route %s %s: add one to the matrix", rt.Method, rt.Pattern)
	}
	return ""
}

// duplicateBody repeats the first parameter or JSON member of a valid body.
func duplicateBody(rt httpapi.Route, valid string) string {
	if rt.Body == httpapi.BodyForm {
		first, _, _ := strings.Cut(valid, "&")
		return valid + "&" + first
	}
	// {"name":value,...} → {"name":value,"name":value,...}
	end := strings.IndexAny(valid, ",}")
	return "{" + valid[1:end] + "," + valid[1:]
}

// invalidUTF8Body puts a 0xff byte into a value of a valid body.
func invalidUTF8Body(rt httpapi.Route, valid string) string {
	if rt.Body == httpapi.BodyForm {
		return valid + "&x=%ff%fe"
	}
	i := strings.Index(valid, `":"`)
	if i < 0 { // {"force":true}: no string member
		return `{"force":true,"x":"` + "\xff" + `"}`
	}
	return valid[:i+3] + "\xff" + valid[i+3:]
}

type storeSnapshot string

// snapshot is everything the handlers can write: UEs, tokens (with their
// state), signing keys.
func (a *testAS) snapshot(t *testing.T) storeSnapshot {
	t.Helper()
	ues, err := a.srv.ListUEs(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := a.srv.ListTokens(ctx, as.TokenFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := a.srv.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal([]any{ues, toks, keys})
	return storeSnapshot(b)
}

// checkErrorShape asserts an error response: JSON with an "error" code of
// RFC 6749 §5.2 characters and an optional string error_description; on
// OAuth endpoints the no-store headers as well.
func checkErrorShape(t *testing.T, name string, resp *http.Response, body []byte, oauth bool) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json (body %q)", name, ct, body)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Errorf("%s: body is not a JSON object: %q", name, body)
		return
	}
	code, _ := m["error"].(string)
	if code == "" {
		t.Errorf("%s: no error code in %q", name, body)
	}
	for _, c := range code {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("%s: error code %q has a character outside RFC 6749 §5.2", name, code)
		}
	}
	if d, ok := m["error_description"]; ok {
		if _, isStr := d.(string); !isStr {
			t.Errorf("%s: error_description is not a string: %q", name, body)
		}
	}
	for k := range m {
		if k != "error" && k != "error_description" && k != "error_uri" {
			t.Errorf("%s: unexpected member %q in the error body %q", name, k, body)
		}
	}
	if oauth && (resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache") {
		t.Errorf("%s: OAuth error without Cache-Control: no-store / Pragma: no-cache", name)
	}
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s: 401 without WWW-Authenticate", name)
	}
}

// TestBadInputMatrix sends every bad-input kind to every route of
// httpapi.Routes over loopback HTTP and checks: a 4xx (never a 5xx), the
// JSON error shape (RFC 6749 §5.2 on the OAuth endpoints), the expected
// code where the route parses the defective part, and that nothing was
// written to the store. Parts a route does not read (a body on GET, a
// query string on POST) are ignored, which must not produce a 5xx either.
func TestBadInputMatrix(t *testing.T) {
	a := newTestAS(t)
	u := a.registerUE("ue-1", []string{"u2u:use:000001", "u2u:use:000002"}, false)
	jwkU, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256",
		"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
	jwk := string(jwkU)
	before := a.snapshot(t)
	routes := httpapi.Routes()
	if len(routes) < 19 {
		t.Fatalf("httpapi.Routes lists %d routes", len(routes))
	}
	n := 0
	for _, rt := range routes {
		for _, kind := range badKinds {
			name := rt.Method + " " + rt.Pattern + " / " + kind
			if kind == kindNoAuth && !rt.Admin && !rt.OAuth {
				continue // public GET endpoints need no credentials
			}
			valid := validBody(t, rt, jwk)
			method, body, ctype, query := rt.Method, valid, "", ""
			switch rt.Body {
			case httpapi.BodyForm:
				ctype = "application/x-www-form-urlencoded"
			case httpapi.BodyJSON, httpapi.BodyJSONOptional:
				ctype = "application/json"
			}
			pathUTF8 := false
			// expect: the status and error code when the route parses the
			// defective part; 0: only "no 5xx, JSON error if 4xx".
			status, code := 0, ""
			parsesBody := rt.Body != httpapi.BodyNone
			switch kind {
			case kindMalformed:
				switch {
				case rt.Body == httpapi.BodyForm:
					body += "&%zz"
				case parsesBody:
					body = valid[:len(valid)-1]
				case len(rt.Query) > 0:
					query = rt.Query[0] + "=%zz"
				default:
					body, ctype = "%%%{", "text/plain"
				}
				if parsesBody || len(rt.Query) > 0 {
					status, code = 400, "invalid_request"
				}
			case kindOversize:
				if rt.Body == httpapi.BodyForm {
					body += "&pad=" + strings.Repeat("a", httpapi.DefaultMaxBodyBytes)
				} else {
					body = `{"pad":"` + strings.Repeat("a", httpapi.DefaultMaxBodyBytes) + `"}`
				}
				if parsesBody {
					status, code = 413, "invalid_request"
				}
			case kindContentType:
				switch rt.Body {
				case httpapi.BodyForm:
					ctype = "application/json"
				case httpapi.BodyNone:
					body, ctype = "x=1", "application/x-www-form-urlencoded"
				default:
					ctype = "application/x-www-form-urlencoded"
				}
				if parsesBody {
					status, code = 400, "invalid_request"
				}
			case kindCharset:
				if ctype == "" {
					body, ctype = "x=1", "application/x-www-form-urlencoded; charset=iso-8859-1"
				} else {
					ctype += "; charset=iso-8859-1"
				}
				if parsesBody {
					status, code = 400, "invalid_request"
				}
			case kindDuplicate:
				switch {
				case parsesBody:
					body = duplicateBody(rt, valid)
				case len(rt.Query) > 0:
					query = rt.Query[len(rt.Query)-1] + "=1&" + rt.Query[len(rt.Query)-1] + "=2"
				default:
					query = "x=1&x=2"
				}
				if parsesBody || len(rt.Query) > 0 {
					status, code = 400, "invalid_request"
				}
			case kindUTF8:
				switch {
				case parsesBody:
					body = invalidUTF8Body(rt, valid)
				case len(rt.Query) > 0:
					query = rt.Query[0] + "=%ff%fe"
				case strings.Contains(rt.Pattern, "{"):
					pathUTF8 = true
				default:
					query = "x=%ff"
				}
				if parsesBody || len(rt.Query) > 0 {
					status, code = 400, "invalid_request"
				}
				if pathUTF8 {
					status = -1 // a 4xx, whichever
				}
			case kindMethod:
				method = "PATCH"
				status = -1
				if rt.OAuth {
					status, code = 405, "invalid_request"
				}
			case kindNoAuth:
				if rt.Admin {
					status, code = 401, "unauthorized"
				} else {
					status, code = 401, "invalid_client"
				}
			}
			path := concretePath(rt.Pattern, pathUTF8)
			if query != "" {
				path += "?" + query
			}
			req, err := http.NewRequest(method, a.issuer+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body == "" {
				req.Body, req.ContentLength = nil, 0
			}
			if ctype != "" && body != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if kind != kindNoAuth {
				if rt.Admin {
					req.Header.Set("Authorization", "Bearer "+adminToken)
				} else if rt.OAuth {
					req.Header.Set("Authorization", basicHdr(u.id, u.secret)["Authorization"])
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			rb, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			n++
			switch {
			case resp.StatusCode >= 500:
				t.Errorf("%s: %d %s", name, resp.StatusCode, rb)
				continue
			case status > 0 && resp.StatusCode != status:
				t.Errorf("%s: status %d, want %d (%s)", name, resp.StatusCode, status, rb)
			case status < 0 && resp.StatusCode < 400:
				t.Errorf("%s: status %d, want a 4xx (%s)", name, resp.StatusCode, rb)
			}
			if resp.StatusCode >= 400 {
				checkErrorShape(t, name, resp, rb, rt.OAuth)
				if code != "" {
					var m map[string]any
					json.Unmarshal(rb, &m)
					if m["error"] != code {
						t.Errorf("%s: error %v, want %s", name, m["error"], code)
					}
				}
			}
			if got := a.snapshot(t); got != before {
				t.Fatalf("%s: the store changed:\nbefore %s\nafter  %s", name, before, got)
			}
		}
	}
	t.Logf("%d bad requests over %d routes", n, len(routes))

	// The valid bodies are accepted: the matrix's 4xx came from the defects.
	for _, rt := range routes {
		if rt.Body == httpapi.BodyNone {
			continue
		}
		valid := validBody(t, rt, jwk)
		hdr := map[string]string{"Authorization": "Bearer " + adminToken, "Content-Type": "application/json"}
		if rt.OAuth {
			hdr = basicHdr(u.id, u.secret)
			hdr["Content-Type"] = "application/x-www-form-urlencoded"
		}
		path := strings.ReplaceAll(concretePath(rt.Pattern, false), "nobody", u.id)
		req, _ := http.NewRequest(rt.Method, a.issuer+path, bytes.NewReader([]byte(valid)))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Errorf("valid %s %s: %d %s", rt.Method, rt.Pattern, resp.StatusCode, rb)
		}
	}
}

// concretePath fills a route pattern's wildcards with values naming
// nothing (or with invalid UTF-8).
func concretePath(pattern string, badUTF8 bool) string {
	fill := map[string]string{"{id}": "nobody", "{jti}": "no-such-jti", "{n}": "7"}
	for k, v := range fill {
		if badUTF8 {
			v = "%ff%fe"
		}
		pattern = strings.ReplaceAll(pattern, k, v)
	}
	return pattern
}
