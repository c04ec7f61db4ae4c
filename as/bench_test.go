package as_test

import (
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/prosesec/prosesec/as"
)

// BenchmarkIssue measures Server.Token over a real SQLite store, in
// parallel (GOMAXPROCS goroutines × -cpu), for both client authentication
// methods. The private_key_jwt assertions are signed before the timer
// starts, so the figure is the AS's cost (verification, replay record,
// token record, signing).
func BenchmarkIssue(b *testing.B) {
	for _, method := range []string{"client_secret_basic", "private_key_jwt"} {
		for _, format := range []string{"jwt", "cwt"} {
			b.Run(fmt.Sprintf("%s/%s", method, format), func(b *testing.B) {
				e := newEnv(b, func(c *as.Config) { c.Rand = rand.Reader })
				const nUE = 64
				ues := make([]*ue, nUE)
				for i := range ues {
					ues[i] = e.register(fmt.Sprintf("ue-%03d", i), "u2u:use:000001 u2u:serve:000002", false)
				}
				var auths []as.ClientAuth
				if method == "private_key_jwt" {
					auths = make([]as.ClientAuth, b.N)
					now := e.clk.Now()
					for i := range auths {
						auths[i] = ues[i%nUE].jwtAuth(b, now, nil)
					}
				}
				var next atomic.Int64
				b.SetParallelism(16) // 32 goroutines on 2 CPUs, like the load target
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := next.Add(1) - 1
						var a as.ClientAuth
						if auths != nil {
							a = auths[i]
						} else {
							a = ues[i%nUE].basic()
						}
						if _, err := e.srv.Token(ctx, as.TokenRequest{GrantType: "client_credentials", Format: format, Auth: a}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
