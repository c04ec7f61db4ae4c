package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prosesec/prosesec/pc5/link"
	"github.com/prosesec/prosesec/pc5/sec"
)

// readTrace writes res into a temporary directory and reads trace.jsonl
// back.
func readTrace(t *testing.T, res *Result) (string, []Frame, []byte) {
	t.Helper()
	dir := t.TempDir()
	if err := res.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var frames []Frame
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var f Frame
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("trace line %q: %v", sc.Text(), err)
		}
		frames = append(frames, f)
	}
	return dir, frames, raw
}

// TestTraceHTTPSAndDecodedFields: the default run's trace holds every
// provisioning exchange with the AS and names and decodes every PC5 frame,
// protected ones included, and holds no token, assertion, octets or keys.
func TestTraceHTTPSAndDecodedFields(t *testing.T) {
	res, err := Run(context.Background(), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatal("the default scenario has failing checks")
	}
	dir, frames, raw := readTrace(t, res)
	if _, err := os.Stat(filepath.Join(dir, "keys.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("keys.jsonl written without DebugKeys (%v)", err)
	}
	if res.Runs[0] != httpRunName {
		t.Fatalf("first run %q, want %q", res.Runs[0], httpRunName)
	}
	tokens := map[string]bool{} // UEs that got a token
	for i, f := range frames {
		if f.Octets != "" {
			t.Fatalf("frame %d has octets without DebugKeys", i)
		}
		if f.Proto == ProtoHTTPS {
			if f.Run != httpRunName || (f.From != ASName && f.To != ASName) {
				t.Fatalf("HTTPS frame %+v", f)
			}
			if f.Message == "POST /oauth2/token" {
				if f.Fields["grant_type"] != "client_credentials" || f.Fields["client_auth"] != "private_key_jwt" || f.Fields["token_format"] != "cwt" {
					t.Errorf("token request fields %v", f.Fields)
				}
				resp := frames[i+1]
				if resp.From != ASName || resp.To != f.From || resp.Message != "200 OK" || resp.Fields["token_type"] == "" || resp.Rejected {
					t.Errorf("token response %+v", resp)
				}
				tokens[f.From] = true
			}
			continue
		}
		if f.Proto != ProtoPC5 {
			t.Fatalf("frame %d: proto %q", i, f.Proto)
		}
		if strings.HasPrefix(f.Message, "protected PC5-S") || strings.HasPrefix(f.Message, "undecodable") {
			t.Errorf("frame %d not decoded: %+v", i, f)
		}
		switch f.Message {
		case "PROSE DIRECT LINK ESTABLISHMENT REQUEST":
			if f.Fields["source_user_info"] == "" || f.Fields["rsc"] == "" || len(f.Fields["nonce_1"]) != 32 {
				t.Errorf("REQUEST fields %v", f.Fields)
			}
		case "PROSE DIRECT LINK SECURITY MODE COMMAND":
			if f.Fields["protection"] != "integrity" || f.Fields["selected_algorithms"] == "" || f.Fields["knrp_sess_id"] == "" {
				t.Errorf("SMC fields %v", f.Fields)
			}
		case "PROSE DIRECT LINK SECURITY MODE COMPLETE", "PROSE DIRECT LINK ESTABLISHMENT ACCEPT":
			if f.Fields["protection"] != "integrity, ciphering" {
				t.Errorf("%s fields %v", f.Message, f.Fields)
			}
		case "PROSE DIRECT LINK ESTABLISHMENT REJECT":
			if f.Fields["cause"] == "" || !f.Rejected {
				t.Errorf("REJECT %+v", f)
			}
		case "IP packet (PDCP)":
			if _, err := netip.ParseAddr(f.Fields["ip_dst"]); err != nil {
				t.Errorf("IP packet fields %v", f.Fields)
			}
		}
	}
	for _, n := range []string{SourceName, TargetName, RelayName} {
		if !tokens[n] {
			t.Errorf("no token request of %s in the trace", n)
		}
	}
	// No JOSE object (a JWT, the client assertion) and no CWT in base64url
	// ("0oR": tag 18, array of 4) anywhere.
	for _, s := range []string{"eyJ", "0oR", "client_assertion"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("trace.jsonl contains %q", s)
		}
	}
}

// TestDebugKeysDecryptTheTrace: with DebugKeys, keys.jsonl (0600) holds
// each context's keys, every PC5 frame its octets, and those are enough
// for the 3GPP algorithms alone to check an SMC's MAC-I and to decipher an
// IP packet to the addresses the trace shows.
func TestDebugKeysDecryptTheTrace(t *testing.T) {
	res, err := Run(context.Background(), Options{Seed: 1, DebugKeys: true, Attacks: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	dir, frames, _ := readTrace(t, res)
	st, err := os.Stat(filepath.Join(dir, "keys.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keys.jsonl mode %v, want 0600", st.Mode().Perm())
	}
	keys := map[string]KeyRecord{} // by KNRP-sess ID, initiator side
	for _, k := range res.Keys {
		if k.Initiator {
			keys[k.KNRPSessID] = k
		}
	}
	if len(keys) == 0 {
		t.Fatal("no key records")
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var macs, packets int
	for _, f := range frames {
		if f.Proto != ProtoPC5 {
			continue
		}
		if f.Octets == "" {
			t.Fatalf("frame without octets: %+v", f)
		}
		k, ok := keys[f.Fields["knrp_sess_id"]]
		if !ok {
			continue
		}
		pdu := unhex(f.Octets)
		hdr, body, err := sec.ParsePDU(pdu, sec.SNSize12, true)
		if err != nil {
			t.Fatal(err)
		}
		alg := func(s string) uint8 { return s[len(s)-1] - '0' } // "128-NEA2" → 2
		switch f.Message {
		case "PROSE DIRECT LINK SECURITY MODE COMMAND":
			integ, err := sec.NewIntegrity(sec.IntegrityAlg(alg(k.NIA)), unhex(k.NRPIK))
			if err != nil {
				t.Fatal(err)
			}
			covered := pdu[:len(pdu)-sec.MACLen]
			mac, err := integ.MAC(hdr.SN, f.LCID, sec.DirectionResponder, covered, 8*len(covered))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mac[:], pdu[len(pdu)-sec.MACLen:]) {
				t.Fatalf("SMC MAC-I does not verify with the logged NRPIK (%s)", f.Fields["knrp_sess_id"])
			}
			macs++
		case "IP packet (PDCP)":
			if f.From != SourceName {
				continue // the source's hop: DIRECTION of the initiator
			}
			ciph, err := sec.NewCipher(sec.CipherAlg(alg(k.NEA)), unhex(k.NRPEK))
			if err != nil {
				t.Fatal(err)
			}
			plain := bytes.Clone(body)
			if err := ciph.XORKeyStream(hdr.SN, f.LCID, sec.DirectionInitiator, plain, plain, 8*len(plain)); err != nil {
				t.Fatal(err)
			}
			if len(plain) < 40 || plain[0]>>4 != 6 {
				t.Fatalf("deciphered packet is not IPv6: % x", plain[:min(8, len(plain))])
			}
			dst, _ := netip.AddrFromSlice(plain[24:40])
			if dst.String() != f.Fields["ip_dst"] {
				t.Fatalf("deciphered destination %v, trace says %s", dst, f.Fields["ip_dst"])
			}
			packets++
		}
	}
	if macs == 0 || packets == 0 {
		t.Fatalf("checked %d SMC MACs and %d packets, want some of each", macs, packets)
	}
}

// TestProtectionField: the trace names what the air saw, null algorithms
// and bearers without ciphering or integrity included.
func TestProtectionField(t *testing.T) {
	for _, tc := range []struct {
		p    link.TracedPDU
		want string
	}{
		{link.TracedPDU{Ciphered: true, CipherAlg: sec.NEA2, Integrity: true, IntegrityAlg: sec.NIA2}, "integrity, ciphering"},
		{link.TracedPDU{Ciphered: false, CipherAlg: sec.NEA2, Integrity: true, IntegrityAlg: sec.NIA2}, "integrity"},
		{link.TracedPDU{Ciphered: true, CipherAlg: sec.NEA0, Integrity: true, IntegrityAlg: sec.NIA1}, "integrity, ciphering with 128-NEA0 (null: plaintext on the air)"},
		{link.TracedPDU{Ciphered: true, CipherAlg: sec.NEA1, Integrity: true, IntegrityAlg: sec.NIA0}, "integrity with 128-NIA0 (null), ciphering"},
		{link.TracedPDU{Ciphered: true, CipherAlg: sec.NEA1}, "no integrity, ciphering"},
	} {
		if got := protection(tc.p); got != tc.want {
			t.Errorf("protection(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// TestKeysFileReplaced: keys never land in an older, readable keys.jsonl
// (it is replaced by a new 0600 file), and a result without keys removes a
// stale one.
func TestKeysFileReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	res := &Result{Keys: []KeyRecord{{Run: "r", UE: "u", KNRPSessID: "0102", NRPEK: "00", NRPIK: "00"}}}
	if err := res.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if st.Mode().Perm() != 0o600 || bytes.Contains(b, []byte("old")) || !bytes.Contains(b, []byte(`"knrp_sess_id":"0102"`)) {
		t.Fatalf("keys.jsonl mode %v, content %q", st.Mode().Perm(), b)
	}
	if err := (&Result{}).WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("stale keys.jsonl kept (%v)", err)
	}
}
