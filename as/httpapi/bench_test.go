package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkTokenEndpoint measures POST /oauth2/token with client_secret_basic
// over loopback HTTP (32 concurrent clients on 2 CPUs), end to end through
// the HTTP shell, the AS core and SQLite.
func BenchmarkTokenEndpoint(b *testing.B) {
	a := newTestAS(b)
	u := a.registerUE("ue-1", []string{"u2u:use:000001"}, false)
	hdr := basicHdr(u.id, u.secret)["Authorization"]
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("POST", a.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", hdr)
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
