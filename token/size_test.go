package token

import (
	"testing"
)

// TestTokenSizes measures the typical token of docs/token-format.md §7 in
// both formats. Sizes are deterministic (both signatures are 64 bytes), so
// they are asserted.
func TestTokenSizes(t *testing.T) {
	e := newTestEnv(t)
	type row struct {
		name     string
		cwt, jwt int
	}
	var rows []row
	for _, alg := range []Algorithm{ES256, EdDSA} {
		size := func(c *Claims, f Format, uncompressed bool) int {
			s := *e.signer(alg)
			s.UncompressedCnf = uncompressed
			raw, err := s.Sign(c, f)
			if err != nil {
				t.Fatal(err)
			}
			return len(raw)
		}
		c := e.typicalClaims()
		typical := row{"typical: cnf P-256 + status", size(c, CWT, false), size(c, JWT, false)}
		uncomp := row{"cnf P-256 with y + status", size(c, CWT, true), size(c, JWT, true)}
		st := c.Status
		c.Status = nil
		cnfOnly := row{"cnf P-256, no status", size(c, CWT, false), size(c, JWT, false)}
		c.Status = st
		c.Confirmation = e.ueEd.Public()
		ed := row{"cnf Ed25519 + status", size(c, CWT, false), size(c, JWT, false)}
		c.Confirmation = nil
		nocnf := row{"no cnf, status", size(c, CWT, false), size(c, JWT, false)}
		c.Status = nil
		bare := row{"no cnf, no status", size(c, CWT, false), size(c, JWT, false)}
		if alg == ES256 {
			rows = []row{typical, uncomp, ed, nocnf, bare, cnfOnly}
		} else if typical != rows[0] || uncomp != rows[1] || ed != rows[2] || nocnf != rows[3] || bare != rows[4] || cnfOnly != rows[5] {
			t.Errorf("EdDSA sizes differ from ES256 sizes")
		}
	}
	for _, r := range rows {
		t.Logf("%-30s CWT %4d  JWT %4d", r.name, r.cwt, r.jwt)
	}
	// The compressed cnf point saves 33 bytes (a 34-byte y becomes 1).
	if rows[1].cwt-rows[0].cwt != 33 {
		t.Errorf("compressed cnf saves %d bytes, want 33", rows[1].cwt-rows[0].cwt)
	}
	// The 250-byte target holds without cnf; the typical token with a
	// P-256 cnf and a status reference needs 294 (see the doc's breakdown).
	if rows[3].cwt > 250 {
		t.Errorf("CWT without cnf: %d bytes, want <= 250", rows[3].cwt)
	}
	if rows[0].cwt > 294 {
		t.Errorf("typical CWT: %d bytes, want <= 294", rows[0].cwt)
	}
	// With a P-256 cnf but no status reference the target holds too; the
	// status claim (its list URI above all) is what takes the typical
	// token over it.
	if rows[5].cwt > 250 {
		t.Errorf("CWT with cnf, without status: %d bytes, want <= 250", rows[5].cwt)
	}
}
