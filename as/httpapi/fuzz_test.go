package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/as/httpapi"
)

// checkFuzzResponse fails on a 5xx, and on a 4xx without an RFC 6749-shaped
// JSON body (a JSON object with a non-empty string "error").
func checkFuzzResponse(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	if w.Code >= 500 {
		t.Fatalf("%s: status %d: %s", what, w.Code, w.Body.String())
	}
	if w.Code < 400 {
		return
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: status %d with Content-Type %q", what, w.Code, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: status %d without a JSON error body: %q", what, w.Code, w.Body.String())
	}
	if code, ok := m["error"].(string); !ok || code == "" {
		t.Fatalf("%s: status %d without an error code: %q", what, w.Code, w.Body.String())
	}
}

// FuzzTokenRequest fuzzes the form parsing and client authentication of
// POST /oauth2/token: the body, its Content-Type and the Authorization
// header (ue-1's secret is random: the fuzzer exercises the failures).
func FuzzTokenRequest(f *testing.F) {
	basic := "Basic dWUtMTpzZWNyZXQ=" // ue-1:secret
	form := "application/x-www-form-urlencoded"
	for _, s := range []struct{ body, ctype, auth string }{
		{"grant_type=client_credentials", form, basic},
		{"grant_type=client_credentials&scope=u2u%3Ause%3A000001&token_format=cwt", form, basic},
		{"grant_type=client_credentials&client_id=ue-1&client_secret=x", form + "; charset=UTF-8", ""},
		{"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1ZS0xIn0.c2ln", form, ""},
		{"grant_type=client_credentials&grant_type=client_credentials", form, basic},
		{"grant_type=client_credentials&scope=%ff", form, basic},
		{"grant_type=%zz", form, basic},
		{"grant_type=client_credentials;scope=x", form, basic},
		{`{"grant_type":"client_credentials"}`, "application/json", basic},
		{"grant_type=client_credentials", form + "; charset=latin1", basic},
		{"grant_type=client_credentials", form, "Basic !!!"},
		{"grant_type=client_credentials", form, "Bearer x"},
		{"", "", ""},
	} {
		f.Add(s.body, s.ctype, s.auth)
	}
	h := newFuzzHandlers(f)
	f.Fuzz(func(t *testing.T, body, ctype, auth string) {
		req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(body))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		checkFuzzResponse(t, w, "POST /oauth2/token")
		if w.Code >= 400 && (w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Pragma") != "no-cache") {
			t.Fatalf("OAuth error without no-store headers")
		}
	})
}

// FuzzAdminUE fuzzes the JSON parsing of the admin UE routes (register,
// update) and the query parsing of the list routes: path segment, query
// string, body and Content-Type.
func FuzzAdminUE(f *testing.F) {
	jwk := `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	js := "application/json"
	for _, s := range []struct {
		op                 uint8
		id, query, body, c string
	}{
		{0, "", "", `{"id":"ue-2","public_key":` + jwk + `,"grants":["u2u:use:000001"],"with_secret":true}`, js},
		{0, "", "", `{"id":"ue-3","public_key":"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----","grants":[]}`, js},
		{0, "", "", `{"id":"ue-4","id":"ue-5","public_key":` + jwk + `}`, js},
		{0, "", "", `{"id":"ue-6","public_key":` + jwk + `,"token_lifetime":"2h"}`, js + "; charset=utf-8"},
		{0, "", "", `{"id":"ue-7","public_key":` + jwk + `,"token_lifetime":-1}`, js},
		{0, "", "", "{\"id\":\"\xff\"}", js},
		{0, "", "", `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, js},
		{1, "ue-1", "", `{"grants":["u2u:serve:00002a"],"secret":"rotate"}`, js},
		{1, "ue-1", "", `{"secret":"bogus"}`, js},
		{1, "ue-1", "", `{"token_lifetime":"0"}`, "text/plain"},
		{1, "%ff", "", `{}`, js},
		{2, "", "limit=2&after=ue-0", "", ""},
		{2, "", "limit=2&limit=3", "", ""},
		{2, "", "after=%ff", "", ""},
		{3, "", "sub=ue-1&active=true&after=5&limit=1000", "", ""},
		{3, "", "active=maybe", "", ""},
		{4, "ue-1", "", "", ""},
		{5, "", "", `{"force":false}`, js},
	} {
		f.Add(s.op, s.id, s.query, s.body, s.c)
	}
	h := newFuzzHandlers(f)
	f.Fuzz(func(t *testing.T, op uint8, id, query, body, ctype string) {
		var method, path string
		seg := url.PathEscape(id)
		switch op % 6 {
		case 0:
			method, path = "POST", "/admin/v1/ues"
		case 1:
			method, path = "PUT", "/admin/v1/ues/"+seg
		case 2:
			method, path = "GET", "/admin/v1/ues"
		case 3:
			method, path = "GET", "/admin/v1/tokens"
		case 4:
			method, path = "GET", "/admin/v1/ues/"+seg
		case 5:
			method, path = "POST", "/admin/v1/keys/rotate"
		}
		u := &url.URL{Path: path, RawQuery: query}
		req, err := http.NewRequest(method, "http://as.example"+u.String(), strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		checkFuzzResponse(t, w, method+" "+path)
	})
}

// newFuzzHandlers serves NewPublic and NewAdmin of one AS (SQLite store,
// ue-1 registered with a random secret) on one mux, in process.
func newFuzzHandlers(f *testing.F) http.Handler {
	a := newTestAS(f)
	a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	o := httpapi.Options{Server: a.srv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), AdminToken: []byte(adminToken)}
	pub, err := httpapi.NewPublic(o)
	if err != nil {
		f.Fatal(err)
	}
	adm, err := httpapi.NewAdmin(o)
	if err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", adm)
	mux.Handle("/", pub)
	return mux
}
