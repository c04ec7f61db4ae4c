package token

import (
	"fmt"
	"unicode/utf8"
)

// CWT claim keys (RFC 8392 §4, RFC 8747 §3.1, RFC 9200 §5.10 (scope),
// draft-ietf-oauth-status-list §6.3.1 (status)). client_id has no
// registered CWT claim key; this project uses the text key "client_id"
// (RFC 8392 §3 allows text keys) and omits it when it equals sub.
// The struct tags of this file and statuslist.go spell the same numbers
// (Go struct tags cannot refer to constants); TestCWTLayout checks them.
const (
	cwtKeyIss        = 1
	cwtKeySub        = 2
	cwtKeyAud        = 3
	cwtKeyExp        = 4
	cwtKeyNbf        = 5
	cwtKeyIat        = 6
	cwtKeyCti        = 7
	cwtKeyCnf        = 8
	cwtKeyScope      = 9
	cwtKeyStatus     = 65535 // provisional: draft-ietf-oauth-status-list §6.3.1
	cwtKeyClientID   = "client_id"
	cnfMethodCOSEKey = 1     // cnf confirmation method COSE_Key (RFC 8747 §3.2)
	cwtKeyTTL        = 65534 // provisional: Status List Token ttl (draft §5.2)
	cwtKeyStatusList = 65533 // provisional: Status List Token status list (draft §5.2)
)

// cwtClaims is the CWT claims set of an access token. Unknown claims are
// ignored (RFC 8392 §3); duplicate keys are rejected by the decoder.
type cwtClaims struct {
	Iss      string      `cbor:"1,keyasint,omitempty"`
	Sub      string      `cbor:"2,keyasint,omitempty"`
	Aud      cwtAudience `cbor:"3,keyasint,omitempty"`
	Exp      *int64      `cbor:"4,keyasint,omitempty"`
	Nbf      *int64      `cbor:"5,keyasint,omitempty"`
	Iat      *int64      `cbor:"6,keyasint,omitempty"`
	Cti      []byte      `cbor:"7,keyasint,omitempty"`
	Cnf      *cwtCnf     `cbor:"8,keyasint,omitempty"`
	Scope    string      `cbor:"9,keyasint,omitempty"`
	Status   *cwtStatus  `cbor:"65535,keyasint,omitempty"`
	ClientID string      `cbor:"client_id,omitempty"`
}

type cwtCnf struct {
	Key *coseKey `cbor:"1,keyasint,omitempty"`
}

type cwtCnfOut struct {
	Key any `cbor:"1,keyasint"`
}

type cwtStatus struct {
	StatusList *cwtStatusRef `cbor:"status_list,omitempty"`
}

type cwtStatusRef struct {
	Idx *uint64 `cbor:"idx"`
	URI string  `cbor:"uri"`
}

// cwtAudience is the aud claim: a text string or an array of text strings
// (RFC 8392 §3.1.3 has a string; an array is allowed here as in JWT).
type cwtAudience []string

// UnmarshalCBOR reads a single text string without the generic decoder
// (the common case) and an array with it.
func (a *cwtAudience) UnmarshalCBOR(data []byte) error {
	major, n, i, ok := cborHeadAt(data, 0)
	switch {
	case ok && major == 3 && n == uint64(len(data)-i):
		if !utf8.Valid(data[i:]) {
			return fmt.Errorf("aud is not valid UTF-8")
		}
		*a = cwtAudience{string(data[i:])}
		return nil
	case ok && major == 4:
		var v []string
		if err := cborDec.Unmarshal(data, &v); err != nil {
			return err
		}
		*a = v
		return nil
	}
	return fmt.Errorf("aud is neither a text string nor an array of text strings")
}

// encodeCWTClaims writes the CWT claims set of c: nbf is left out when it
// equals iat, client_id when it equals sub, and a P-256 cnf key is
// compressed unless uncompressed is set.
func encodeCWTClaims(c *Claims, issuer string, uncompressed bool) ([]byte, error) {
	cti, err := ctiOf(c.ID)
	if err != nil {
		return nil, err
	}
	out := struct {
		Iss      string     `cbor:"1,keyasint"`
		Sub      string     `cbor:"2,keyasint,omitempty"`
		Aud      any        `cbor:"3,keyasint,omitempty"`
		Exp      *int64     `cbor:"4,keyasint"`
		Nbf      *int64     `cbor:"5,keyasint,omitempty"`
		Iat      *int64     `cbor:"6,keyasint,omitempty"`
		Cti      []byte     `cbor:"7,keyasint,omitempty"`
		Cnf      *cwtCnfOut `cbor:"8,keyasint,omitempty"`
		Scope    string     `cbor:"9,keyasint,omitempty"`
		Status   *cwtStatus `cbor:"65535,keyasint,omitempty"`
		ClientID string     `cbor:"client_id,omitempty"`
	}{
		Iss:   issuer,
		Sub:   c.Subject,
		Exp:   numericDate(c.Expiry),
		Iat:   numericDate(c.IssuedAt),
		Cti:   cti,
		Scope: FormatScopes(c.Scopes),
	}
	if !c.NotBefore.Equal(c.IssuedAt) {
		out.Nbf = numericDate(c.NotBefore)
	}
	if c.ClientID != c.Subject {
		out.ClientID = c.ClientID
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		out.Aud = c.Audience[0]
	default:
		out.Aud = c.Audience
	}
	if c.Confirmation != nil {
		k, err := coseKeyOf(c.Confirmation, uncompressed)
		if err != nil {
			return nil, err
		}
		out.Cnf = &cwtCnfOut{Key: k}
	}
	if c.Status != nil {
		idx := c.Status.Index
		out.Status = &cwtStatus{StatusList: &cwtStatusRef{Idx: &idx, URI: c.Status.URI}}
	}
	b, err := cborEnc.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("token: encoding CWT claims: %v", err)
	}
	return b, nil
}

// parseCWT decodes an access token CWT: a COSE_Sign1 (tagged 18, untagged,
// or inside the CWT tag 61) without a typ header. Errors wrap ErrMalformed.
// The algorithm is checked against algs before the claims are decoded.
func parseCWT(raw []byte, algs []Algorithm) (*parsedToken, error) {
	m, err := decodeSign1(raw, true, true)
	if err != nil {
		return nil, err
	}
	if err := checkAlgAllowed(m.alg, algs); err != nil {
		return nil, err
	}
	if m.typ != "" {
		return nil, errorf(ErrMalformed, "COSE typ %q: access token CWTs carry no typ", m.typ)
	}
	if m.kid == "" {
		return nil, errorf(ErrMalformed, "COSE header has no kid")
	}
	cc, err := decodeCWTClaims(m.payload)
	if err != nil {
		return nil, err
	}
	p := &parsedToken{alg: m.alg, kid: m.kid, tbs: m.tbs, sig: m.sig, scope: cc.Scope}
	c := &p.c
	c.Issuer, c.Subject, c.ClientID = cc.Iss, cc.Sub, cc.ClientID
	if cc.Cti != nil {
		if len(cc.Cti) == 0 || len(cc.Cti) > 64 {
			return nil, errorf(ErrMalformed, "CWT cti is %d bytes, want 1 to 64", len(cc.Cti))
		}
		c.ID = b64.EncodeToString(cc.Cti)
	}
	if cc.Exp == nil {
		return nil, errorf(ErrMalformed, "CWT has no exp")
	}
	ts, err := fromNumericDates(cc.Iat, cc.Nbf, cc.Exp)
	if err != nil {
		return nil, err
	}
	c.IssuedAt, c.NotBefore, c.Expiry = ts[0], ts[1], ts[2]
	c.Audience = cc.Aud
	if cc.Cnf != nil {
		if cc.Cnf.Key == nil {
			return nil, errorf(ErrMalformed, "CWT cnf has no COSE_Key")
		}
		p.cnf = cc.Cnf.Key.publicKey
	}
	if cc.Status != nil {
		sl := cc.Status.StatusList
		if sl == nil || sl.Idx == nil || sl.URI == "" {
			return nil, errorf(ErrMalformed, "CWT status has no status_list with idx and uri")
		}
		c.Status = &StatusRef{URI: sl.URI, Index: *sl.Idx}
	}
	c.defaults()
	return p, nil
}
