package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/prosesec/prosesec/as/httpapi"
)

// TestAdminBearerGuessesLimited: wrong admin Bearer tokens on the public
// introspection endpoint are charged like wrong client secrets, and the
// right one is still answered and refunded.
func TestAdminBearerGuessesLimited(t *testing.T) {
	a := newTestASWith(t, func(o *httpapi.Options) { o.RateLimit = httpapi.RateLimit{Rate: 1, Burst: 5} })
	// The right token is refunded: more of them than the burst all pass.
	for i := range 10 {
		if resp, _ := a.post("/oauth2/introspect", "token=x", map[string]string{"Authorization": "Bearer " + adminToken}); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin introspection %d: %d", i, resp.StatusCode)
		}
	}
	counts := map[int]int{}
	for i := range 50 {
		resp, _ := a.post("/oauth2/introspect", "token=x", map[string]string{"Authorization": fmt.Sprintf("Bearer guess-%02d-aaaaaaaaaaaaaaaa", i)})
		counts[resp.StatusCode]++
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != 45 {
		t.Fatalf("50 wrong admin tokens: %v, want the burst (5) answered 401 and the rest 429", counts)
	}
}
